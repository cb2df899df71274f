"""The main job's report: ``write_report(summary, "out/report") -> out/report/index.html`` (+ PNGs beside it).

Sections: the summary table, the chosen architecture (per layer), the memory timeline with the budget line and the
arena layout (``mcuformer.backend.memory.report.plot`` on the deployed blob), accuracy vs SRAM and vs predicted latency
of every candidate the search scored (Pareto fronts, the board's budgets and the chosen sub-net marked), and the
per-operator instruction counts measured in QEMU. ``summary`` is what ``mcuformer run`` writes to ``out/summary.json``
(:class:`mcuformer.summary.Summary`); the search result and the ``.pte`` are read from its paths and checked before
anything is written (a bad one is a UserError). Each file is written atomically; a section whose input is missing says
so instead of failing.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from .errors import UserError, first_line
from .format import fmt_bytes, summary_table
from .io import atomic_path, write_text_atomic
from .pte import memory_of_pte
from .summary import Summary

__all__ = ["write_report", "pareto_front", "op_kind_totals", "kind_name", "plot_candidates"]


def _plt():
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points (sram, accuracy) no other point beats: less or equal SRAM and higher accuracy."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def kind_name(kind: int | str) -> str:
    """The IR op kind of a profiled op: the firmware reports the blob's OpParams union type (1 = Quantize, ...)."""
    if isinstance(kind, str):
        return kind
    from mcuformer.backend.serialization.schema_generated import OpParams  # noqa: PLC0415

    names = {v: k[: -len("Params")] for k, v in vars(OpParams).items() if k.endswith("Params")}
    return names.get(int(kind), f"kind {kind}")


def op_kind_totals(per_op: list[dict[str, Any]]) -> list[tuple[str, float, int]]:
    """(kind name, instructions per inference, number of ops) summed per op kind, largest first."""
    tot: dict[str, list] = {}
    for op in per_op or []:
        t = tot.setdefault(kind_name(op["kind"]), [0.0, 0])
        t[0] += float(op["instructions"])
        t[1] += 1
    return sorted(((k, v[0], v[1]) for k, v in tot.items()), key=lambda x: -x[1])


def _savefig(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)


def plot_candidates(candidates: list[dict[str, Any]], chosen: dict[str, Any] | None, axis: str,
                    budget: float | None, path: Path, clock_hz: float = 216e6) -> int:
    """Validation accuracy of the search's scored candidates (``Candidate.to_dict()``s) against ``axis``: "sram"
    (KB, the planner's input + arena) or "latency" (ms: predicted instructions at ``clock_hz``), with the Pareto
    front, the budget as a vertical line (None: no limit) and ``chosen`` (sram_bytes, instructions, score, short)
    starred. Candidates without a value on the axis are left out; returns how many were drawn."""
    x = {"sram": lambda c: c["sram_bytes"] / 1024 if c.get("sram_bytes", -1) >= 0 else None,
         "latency": lambda c: None if c.get("instructions") is None else c["instructions"] / clock_hz * 1e3}[axis]
    unit = {"sram": "KB", "latency": "ms"}[axis]
    plt = _plt()
    scored = [c for c in candidates if c.get("score") is not None and x(c) is not None]
    fig, ax = plt.subplots(figsize=(9, 5.5))
    fit = [c for c in scored if c.get("fits")]
    over = [c for c in scored if not c.get("fits")]
    if over:
        ax.scatter([x(c) for c in over], [100 * c["score"] for c in over], s=14, c="lightgray",
                   label="over a budget")
    ax.scatter([x(c) for c in fit], [100 * c["score"] for c in fit], s=16, c="tab:blue", alpha=0.7,
               label=f"fits ({len(fit)})")
    front = [scored[i] for i in pareto_front([(x(c), c["score"]) for c in scored])]
    ax.plot([x(c) for c in front], [100 * c["score"] for c in front], "-o", c="tab:green", ms=4,
            label="Pareto front")
    if chosen and x(chosen) is not None:
        ax.scatter([x(chosen)], [100 * chosen["score"]], marker="*", s=250, c="tab:red", zorder=5,
                   label=f"chosen: {chosen['short']}")
    if budget is not None:
        b = budget / 1024 if axis == "sram" else budget
        ax.axvline(b, color="tab:red", ls="--", lw=1, label=f"{axis} budget {b:g} {unit}")
    ax.set_xlabel({"sram": "SRAM by the backend planner (KB: input + arena)",
                   "latency": f"predicted latency (ms at {clock_hz / 1e6:g} MHz, one instruction per cycle)"}[axis])
    ax.set_ylabel("validation top-1, inherited weights (%)")
    ax.set_title(f"search candidates: accuracy vs {'SRAM' if axis == 'sram' else 'latency'} ({len(scored)} scored)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _savefig(fig, path)
    plt.close(fig)
    return len(scored)


def _plot_ops(per_op: list[dict[str, Any]], path: Path) -> None:
    plt = _plt()
    kinds = op_kind_totals(per_op)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(11, 8))
    ys = list(range(len(kinds)))
    a1.barh(ys, [v / 1e3 for _, v, _ in kinds[::-1]], color="tab:purple")
    a1.set_yticks(ys, [k for k, _, _ in kinds[::-1]])
    a1.set_xlabel("thousand instructions per inference")
    a1.set_title("instructions per op kind (QEMU plugin, exact)")
    for y, (_, v, n) in zip(ys, kinds[::-1]):
        a1.text(v / 1e3, y, f" {v:,.0f} ({n} ops)", va="center", fontsize=7)
    a1.set_xlim(0, max((v for _, v, _ in kinds), default=1) / 1e3 * 1.25)
    colors = {k: plt.cm.tab10(i % 10) for i, (k, _, _) in enumerate(kinds)}
    a2.bar(range(len(per_op)), [op["instructions"] / 1e3 for op in per_op],
           color=[colors[kind_name(op["kind"])] for op in per_op])
    a2.set_xlabel("profiled op (execution order; a Loop's body ops count per op)")
    a2.set_ylabel("k instructions")
    a2.set_title("instructions per op, in execution order")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[k]) for k, _, _ in kinds]
    a2.legend(handles, [k for k, _, _ in kinds], fontsize=7, ncol=4)
    fig.tight_layout()
    _savefig(fig, path)
    plt.close(fig)


def _table(rows: list[tuple[str, str]], header: tuple[str, ...] | None = None) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in header) if header else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>{'<tr>' + h + '</tr>' if h else ''}{body}</table>"


def _arch_rows(arch: dict[str, Any]) -> list[tuple]:
    rows = []
    for i in range(arch["depth"]):
        e = arch["embed_dim"]
        hid = int(round(arch["mlp_ratio"][i] * e))
        rows.append((i, arch["num_heads"][i], arch["num_heads"][i] * arch["head_dim"], arch["mlp_ratio"][i], hid,
                     arch["rank_ratio"][i]))
    return rows


def _search_result(path: Path) -> dict[str, Any]:
    try:
        res = json.loads(path.read_bytes())
        if not isinstance(res, dict) or not {"sram_bytes", "val_acc", "short"} <= res.keys():
            raise ValueError("no sram_bytes, val_acc or short")
        return res
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{str(path)!r} is not a search result (from `mcuformer search`): {first_line(e)}") from None


def write_report(summary: Summary, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    paths = summary.paths
    budget = summary.budget_bytes
    # read (and check) every input before writing anything
    pte = Path(paths.get("pte") or "")
    rep = memory_of_pte(pte) if pte.is_file() else None
    sp = Path(paths.get("search") or "")
    res = _search_result(sp) if sp.is_file() else None
    out.mkdir(parents=True, exist_ok=True)
    parts: list[str] = []

    parts.append("<h2>Summary</h2><pre>" + html.escape(summary_table(summary)) + "</pre>")

    a = summary.arch
    parts.append(f"<h2>Chosen architecture</h2><p><code>{html.escape(summary.arch_short)}</code>: "
                 f"{a['img_size']}x{a['img_size']}x{a['in_chans']} input, patch {a['patch_size']} "
                 f"({(a['img_size'] // a['patch_size']) ** 2 + 1} tokens with the class token), embed {a['embed_dim']}, "
                 f"depth {a['depth']}, heads of {a['head_dim']}, {summary.macs / 1e6:.2f} M MACs. A rank ratio "
                 "below 1 makes each linear of the block two low-rank factors.</p>")
    parts.append(_table(_arch_rows(a), ("layer", "heads", "attention width", "MLP ratio", "MLP hidden", "rank ratio")))

    # memory: timeline + layout of the deployed blob
    parts.append("<h2>Memory</h2>")
    if rep is not None:
        from mcuformer.backend.memory.report import plot  # noqa: PLC0415

        with atomic_path(out / "memory.png") as tmp:
            plot(rep, str(tmp), budget, f"deployed blob: live bytes per step (budget {budget / 1024:g} KB)")
        m = summary.memory
        parts.append(
            f"<p>SRAM of the model: input {fmt_bytes(rep.input_bytes)} + arena {fmt_bytes(rep.arena_bytes)} = "
            f"<b>{fmt_bytes(rep.total_sram_bytes)}</b> of the {fmt_bytes(budget)} budget; live-set lower bound "
            f"{fmt_bytes(rep.bound_bytes)} (pool + arena / bound = {rep.efficiency:.3f}). Peak at step "
            f"{rep.peak_step} ({html.escape(rep.peak_op)}). Weights {fmt_bytes(rep.flash_bytes)}. The search's "
            f"predictor (plan_vit, int8 input overwritten in place, token loops tiled for the budget) gave "
            f"{fmt_bytes(m.plan_vit_int8_input_sram_bytes)} for this architecture, which needs "
            f"{fmt_bytes(summary.search.min_sram_bytes)} with one row per token loop (the budget is judged on that; "
            "the rest of it buys multi-row tiles); the deployed model takes a float32 image and quantizes it "
            "inside the delegate.</p>")
        parts.append('<img src="memory.png" alt="memory timeline and arena layout">')
        if rep.peak_buffers:
            parts.append("<p>Buffers live at the peak step:</p>" + _table(
                [(n, f"{s:,d} B") for n, s in rep.peak_buffers[:12]], ("buffer", "bytes")))
    else:
        parts.append(f"<p>(no .pte at {html.escape(str(pte))}: memory plots skipped)</p>")

    # search: accuracy vs SRAM and vs predicted latency, the budgets drawn
    parts.append("<h2>Search: accuracy vs SRAM and latency</h2>")
    if res is not None:
        chosen = {"sram_bytes": res["sram_bytes"], "score": res["val_acc"], "short": res["short"],
                  "instructions": res.get("instructions")}
        cands = res.get("candidates", [])
        n = plot_candidates(cands, chosen, "sram", budget, out / "pareto.png", summary.clock_hz)
        n_lat = plot_candidates(cands, chosen, "latency", summary.latency_budget_ms, out / "latency.png",
                                summary.clock_hz)
        region = res.get("region") or {}
        lat = summary.search.latency_ms
        parts.append(f"<p>Board {html.escape(summary.board)} at {summary.clock_hz / 1e6:g} MHz. Budgets: SRAM "
                     f"{fmt_bytes(budget)}, flash {fmt_bytes(summary.flash_budget_bytes)}, latency "
                     + ("none" if summary.latency_budget_ms is None else f"{summary.latency_budget_ms:g} ms")
                     + f". The chosen sub-net's binding constraint (least slack) is <b>{summary.search.binding}</b>: "
                     + ", ".join(f"{k} {100 * v:.1f}%" for k, v in summary.search.used.items())
                     + " of each budget used" + ("" if lat is None else f"; predicted latency {lat:.2f} ms") + ".</p>")
        parts.append(f"<p>{n} candidates scored with inherited supernet weights on the validation split "
                     f"(held out from the training set); SRAM by the backend's planner. Search space region after "
                     f"evolution: patch sizes {region.get('patch_sizes')}, rank ratios "
                     f"{region.get('rank_ratios') and [min(region['rank_ratios']), max(region['rank_ratios'])]}. "
                     f"Supernet training and search took {res.get('seconds', 0):.0f} s.</p>")
        parts.append('<img src="pareto.png" alt="accuracy vs SRAM of the candidates">')
        if n_lat:
            parts.append('<img src="latency.png" alt="accuracy vs predicted latency of the candidates">')
        else:
            parts.append("<p>(no candidate has a predicted latency: latency plot empty)</p>")
    else:
        parts.append(f"<p>(no search result at {html.escape(str(sp))})</p>")

    # per-op instruction counts
    parts.append("<h2>Cortex-M7 instruction counts (QEMU)</h2>")
    mcu = summary.mcu or {}
    per_op = mcu.get("per_op_instructions") or []
    if per_op:
        _plot_ops(per_op, out / "ops.png")
        kinds = op_kind_totals(per_op)
        total = sum(v for _, v, _ in kinds)
        parts.append(f"<p>Executed instructions per inference, counted exactly by the QEMU plugin "
                     f"(tools/qemu_plugin): {summary.instructions_per_inference:,d} in all, "
                     f"{total:,.0f} inside the delegate's ops; at {summary.clock_hz / 1e6:g} MHz and one instruction "
                     f"per cycle that is {summary.est_ms:.2f} ms (QEMU models no caches or wait states).</p>")
        parts.append('<img src="ops.png" alt="instructions per op">')
        parts.append(_table([(k, f"{v:,.0f}", n, f"{100 * v / total:.1f}%") for k, v, n in kinds],
                            ("op kind", "instructions / inference", "ops", "share")))
        funcs = list((mcu.get("per_function_instructions") or {}).items())[:12]
        if funcs:
            parts.append("<p>Top functions:</p>" + _table([(f, f"{v:,.0f}") for f, v in funcs],
                                                          ("function", "instructions / inference")))
    else:
        parts.append("<p>(no QEMU run: no instruction counts)</p>")

    parts.append("<h2>Files</h2>" + _table([(k, v) for k, v in paths.items() if v], ("what", "path")))
    for note in summary.notes:
        parts.append(f"<p><b>note:</b> {html.escape(note)}</p>")

    doc = ("<!doctype html><html><head><meta charset='utf-8'><title>mcuformer report</title><style>"
           "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
           "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:90%}"
           "th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}pre{background:#f7f7f7;padding:1em;"
           "overflow-x:auto;font-size:85%}</style></head><body><h1>mcuformer: a ViT searched for "
           f"{budget / 1024:g} KB of SRAM ({html.escape(summary.board)}), running on an emulated Cortex-M7</h1>"
           + "\n".join(parts)
           + "</body></html>\n")
    index = out / "index.html"
    write_text_atomic(index, doc)
    return index
