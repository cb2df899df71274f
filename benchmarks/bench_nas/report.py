"""Report stage: nas.json (one row per budget), nas_meta.json, nas_pareto_candidates.json, nas.md and nas_pareto.png
in the results folder, from the rows and nas_shape240.json."""
from __future__ import annotations

import argparse
import json
from typing import Any

from mcuformer.io import write_json_atomic

from . import common


# nas.json: a list of rows, one per budget (budget_bytes, sram_bytes, searched_int8_top1, scratch_int8_top1,
# baseline_int8_top1, binding, latency_budget_ms, flash_budget_bytes, kendall_tau, ablation, ...);
# nas_meta.json: recipe, timings, notes and "shape240"; nas_pareto_candidates.json: the candidates seen.
def load() -> dict[str, Any]:
    """The whole benchmark document (rows + metadata + Pareto candidates), or an empty one."""
    res = common.RESULTS
    rows, meta, pc = res / "nas.json", res / "nas_meta.json", res / "nas_pareto_candidates.json"
    doc = json.loads(meta.read_text()) if meta.exists() else {}
    doc["rows"] = json.loads(rows.read_text()) if rows.exists() else []
    doc["pareto_candidates"] = json.loads(pc.read_text()) if pc.exists() else {}
    return doc


def save(doc: dict[str, Any]) -> None:
    res = common.RESULTS
    res.mkdir(parents=True, exist_ok=True)
    s240 = res / "nas_shape240.json"
    if s240.exists():
        doc["shape240"] = json.loads(s240.read_text())
    write_json_atomic(res / "nas.json", doc["rows"])
    write_json_atomic(res / "nas_meta.json", {k: v for k, v in doc.items() if k not in ("rows", "pareto_candidates")})
    write_json_atomic(res / "nas_pareto_candidates.json", doc.get("pareto_candidates", {}))
    _plot(doc)
    _markdown(doc)


def _plot(doc: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colors = dict(zip([r["budget"] for r in doc["rows"]], ("tab:blue", "tab:orange", "tab:green", "tab:red")))
    for k, cands in (doc.get("pareto_candidates") or {}).items():
        if k not in colors or not cands:
            continue
        pts = sorted((c["latency_ms"], 100 * c["val_acc"]) for c in cands if c.get("latency_ms") is not None)
        ax.scatter(*zip(*pts), s=8, alpha=0.35, color=colors[k], label=f"candidates, {k} search (inherited, val)")
    for r in doc["rows"]:
        c = colors[r["budget"]]
        ax.axvline(r["latency_budget_ms"], color=c, ls=":", lw=1)
        for side, marker, s in (("searched", "*", 220), ("scratch", "^", 90), ("baseline", "s", 90)):
            if r.get(f"{side}_int8_top1") is not None:
                ax.scatter([r[f"{side}_latency_ms_predicted"]], [100 * r[f"{side}_int8_top1"]], marker=marker, s=s,
                           color=c, edgecolor="k", zorder=5, label=f"{side} {r['budget']} (int8 test)")
    ax.set_xlabel(f"latency on the {common.BOARD} (ms, predicted)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title("Fashion-MNIST: candidates seen by the search vs the deployed networks")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(common.RESULTS / "nas_pareto.png", dpi=120)
    plt.close(fig)


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _net_line(r: dict[str, Any], d: dict[str, Any], side: str, label: str) -> str:
    ins, ms = d.get(f"{side}_instructions"), d.get(f"{side}_latency_ms_measured")
    mcu = (d.get(f"{side}_deploy") or {}).get("mcu") or {}
    same = "" if "identical_to_host" not in mcu else f", {'=' if mcu['identical_to_host'] else '!='} host on " \
                                                     f"{mcu['images']}"
    return (f"| {r['budget']} | {label} | {d[f'{side}_short']} | {d[f'{side}_macs'] / 1e6:.2f} M | "
            f"{d[f'{side}_sram_bytes']:,} B | {d[f'{side}_flash_bytes']:,} B | "
            f"{d[f'{side}_latency_ms_predicted']:.2f} ms | " + (f"{ins:,.0f} ({ms:.2f} ms{same})" if ins else "-")
            + f" | {d[f'{side}_binding']} | {_pct(d[f'{side}_fp32_top1'])} | **{_pct(d[f'{side}_int8_top1'])}** |")


def _markdown(doc: dict[str, Any]) -> None:
    L = ["# NAS under the deployed budgets (issue 11, item 6)", ""]
    rec = doc.get("recipe") or {}
    L += [f"Trained on: {doc.get('trained_on')}. Evaluated: {doc.get('evaluated_on')}. Date {doc.get('date')}.", ""]
    sn = doc.get("supernet") or {}
    rows = doc["rows"]
    if rows:
        r0 = rows[0]
        L += [f"Budgets: the {r0['board']} ({r0['clock_hz'] / 1e6:g} MHz): SRAM {r0['budget_bytes']:,} B (the board's, "
              f"less the firmware's), flash {r0['flash_budget_bytes']:,} B, latency "
              + " / ".join(f"{r['latency_budget_ms']:g}" for r in rows) + " ms. Latency binds: each point admits "
              "only part of the space's uniform ViTs; SRAM binds nothing at 28 px.", ""]
    if rec:
        done = sn.get("epochs_done", rec["supernet"]["epochs"])
        ep = rec["baseline"]["epochs"]
        same = (" = the supernet + fine-tune epochs" if ep == rec["supernet"]["epochs"] + rec["finetune"]["epochs"]
                else " = the fine-tune's epochs (the supernet: a one-time cost shared by every budget and ablation)"
                if ep == rec["finetune"]["epochs"] else "")
        L += [f"Recipe: supernet on space {rec['supernet'].get('space')}, patch sizes {rec['supernet'].get('patches')} "
              f"(sandwich + in-place distillation, lr {rec['supernet']['lr']}), {done} of {rec['supernet']['epochs']} "
              f"planned epochs; (a) the searched sub-net with its inherited weights, fine-tuned "
              f"{rec['finetune']['epochs']} epochs (lr {rec['finetune']['lr']}); (b) the same architecture and (c) the "
              f"uniform baseline from scratch, {ep} epochs (lr {rec['baseline']['lr']}){same}. "
              f"{rec['train_images']} training images, batch {rec['batch_size']}; {rec['common']}. Search: space evolution {rec['search']['space_evolution']}, evolution "
              f"{rec['search']['evolution']}, rerank {rec['search'].get('rerank')}, inherited accuracy on "
              f"{rec['val_images_search']} held-out training images. The test set is used for these numbers only.", ""]
    L += ["| budget | network | arch | MACs | SRAM | weights | latency (predicted) | Cortex-M7 instructions "
          "(QEMU) | binding | fp32 top-1 | int8 top-1 (C++ delegate) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    labels = {"no-lowrank": "searched, space without low-rank", "one-patch": "searched, space with one patch size"}
    for r in rows:
        L.append(_net_line(r, r, "searched", "(a) searched (inherited + fine-tune)"))
        if r.get("scratch_int8_top1") is not None:
            L.append(_net_line(r, r, "scratch", f"(b) searched arch from scratch ({r['scratch_epochs']} epochs)"))
        if r.get("baseline_int8_top1") is not None:
            L.append(_net_line(r, r, "baseline", "(c) best uniform ViT"))
        for ab, d in (r.get("ablation") or {}).items():
            L.append(_net_line(r, d, "searched", f"ablation: {labels.get(ab, ab)}"))
    L.append("")
    for r in rows:
        parts = [f"{side} {100 * (r['searched_int8_top1'] - r[f'{side}_int8_top1']):+.2f} points"
                 for side in ("scratch", "baseline") if r.get(f"{side}_int8_top1") is not None]
        parts += [f"vs {labels.get(ab, ab)} {100 * (r['searched_int8_top1'] - d['searched_int8_top1']):+.2f}"
                  for ab, d in (r.get("ablation") or {}).items()]
        tau = r.get("kendall_tau")
        L.append(f"- {r['budget']}: searched (a) vs " + ", ".join(parts) + "; Kendall tau "
                 + ("-" if tau is None else f"{tau:.2f} (rerank), {r['kendall_tau_inherited']:.2f} (inherited), "
                    f"{r['kendall_tau_subnets']} sub-nets") + ".")
    if rows and rows[0].get("kendall_tau_source"):
        L += ["", f"Kendall tau: {rows[0]['kendall_tau_source']}."]
    if doc.get("notes"):
        L += ["", "Notes:", ""] + [f"- {n}" for n in doc["notes"]]
    L += ["", "Baseline = for each patch size, the largest-MACs uniform full-rank ViT of the space that fits every "
          "budget by the predictors (nas.pipeline.best_uniform_baseline); all were trained, the best on validation is "
          "shown (the others are in nas.json, `baseline_candidates`). The ablations search the same supernet in its "
          "space restricted to full rank, or to its largest patch size.", "", "![Pareto](nas_pareto.png)", ""]
    s240 = doc.get("shape240")
    if s240:
        L += ["## 240 px, MCUFormer's search space, 320 KB (shape only, no data)", "",
              f"{s240['samples']} shared random sub-nets; fit by: {s240['agreement']}", "",
              "| predictor | share of random sub-nets that fit | largest (MACs) that fits | MACs | planner SRAM | "
              "paper-formula bytes |", "|---|---|---|---|---|---|"]
        for name, r in s240["per_predictor"].items():
            t = r["top"][0] if r.get("top") else None
            L.append(f"| {name} | {100 * r['fit_share']:.1f}% | {t['short'] if t else '-'} | "
                     f"{t['macs'] / 1e6:.0f} M | {t.get('planner_sram_bytes', 0):,} B | "
                     f"{t['paper_formula_bytes']:,} B |" if t else f"| {name} | 0% | - | - | - | - |")
        sl = s240.get("space_largest")
        if sl:
            L += ["", f"The space's largest sub-net, {sl['short']} ({sl['macs'] / 1e6:.0f} M MACs), needs "
                  f"{sl['planner_sram_bytes']:,} B by our planner (fits: {sl['fits_planner']}) and "
                  f"{sl['paper_formula_bytes']:,} B by the paper's formula (fits: {sl['fits_paper']}). Our planner's "
                  "peak at 240 px is the int8 image (172,800 B) with the tokens written over it, plus one block's "
                  "scratch; so at 320 KB the budget no longer constrains MCUFormer's space (flash would)."]
        L.append("")
    (common.RESULTS / "nas.md").write_text("\n".join(L))


def cmd_render(a: argparse.Namespace) -> int:
    """Re-render nas.md / nas_pareto.png from nas.json (+ side files); --note appends to its notes."""
    doc = load()
    if a.clear_notes:
        doc["notes"] = []
    doc.setdefault("notes", []).extend(a.note or [])
    save(doc)
    return 0
