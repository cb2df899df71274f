"""Report stage: nas.json (one row per budget), nas_meta.json, nas_pareto_candidates.json, nas.md and nas_pareto.png
in the results folder, from the rows and the side files (nas_shape240.json, nas_scratch.json)."""
from __future__ import annotations

import argparse
import json
from typing import Any

from mcuformer.io import write_json_atomic

from . import common
from .common import KB


# nas.json: a list of rows, one per budget (budget_bytes, sram_bytes, searched_int8_top1, baseline_int8_top1, ...);
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
    rows = doc["rows"]
    scratch = res / "nas_scratch.json"
    if scratch.exists():
        for r in rows:
            r.update(json.loads(scratch.read_text()).get(str(r["budget_bytes"]), {}))
    write_json_atomic(res / "nas.json", rows)
    write_json_atomic(res / "nas_meta.json", {k: v for k, v in doc.items() if k not in ("rows", "pareto_candidates")})
    write_json_atomic(res / "nas_pareto_candidates.json", doc.get("pareto_candidates", {}))
    _plot(doc)
    _markdown(doc)


def _plot(doc: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colors = {16 * KB: "tab:blue", 32 * KB: "tab:orange", 64 * KB: "tab:green"}
    for k, cands in (doc.get("pareto_candidates") or {}).items():
        b = int(k)
        xs = [c["sram_bytes"] / KB for c in cands]
        ys = [100 * c["val_acc"] for c in cands]
        ax.scatter(xs, ys, s=8, alpha=0.35, color=colors[b], label=f"candidates, {b // KB} KB search (inherited, val)")
        front, best = [], -1.0
        for x, y in sorted(zip(xs, ys)):
            if y > best:
                front.append((x, y))
                best = y
        if front:
            ax.step(*zip(*front), where="post", color=colors[b], lw=1, alpha=0.8)
        ax.axvline(b / KB, color=colors[b], ls=":", lw=1)
    for r in doc["rows"]:
        c = colors[r["budget_bytes"]]
        ax.scatter([r["sram_bytes"] / KB], [100 * r["searched_int8_top1"]], marker="*", s=220, color=c,
                   edgecolor="k", zorder=5, label=f"searched {r['budget_bytes'] // KB} KB (int8 test, deployed)")
        if r.get("baseline_int8_top1") is not None:
            ax.scatter([r["baseline_sram_bytes"] / KB], [100 * r["baseline_int8_top1"]], marker="s", s=90, color=c,
                       edgecolor="k", zorder=5, label=f"uniform baseline {r['budget_bytes'] // KB} KB (int8 test)")
    ax.set_xlabel("SRAM by the backend planner (KB)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title("Fashion-MNIST: candidates seen by the search vs the deployed networks")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    fig.savefig(common.RESULTS / "nas_pareto.png", dpi=120)
    plt.close(fig)


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _markdown(doc: dict[str, Any]) -> None:
    L = ["# NAS under the deployed memory budget (issue 5)", ""]
    rec = doc.get("recipe") or {}
    L += [f"Trained on: {doc.get('trained_on')}. Evaluated: {doc.get('evaluated_on')}. Date {doc.get('date')}.", ""]
    sn = doc.get("supernet") or {}
    if rec:
        done = sn.get("epochs_done", rec["supernet"]["epochs"])
        L += [f"Recipe: supernet on space {rec['supernet'].get('space')}, patch sizes {rec['supernet'].get('patches')} "
              "(sandwich: largest + smallest + 2 random sub-nets per step, "
              f"in-place distillation, lr {rec['supernet']['lr']}), **{done} of {rec['supernet']['epochs']} planned "
              "epochs done**" + (" (the run was time-boxed; see notes)" if done < rec["supernet"]["epochs"] else "")
              + ", then the searched sub-net, extracted with its "
              f"inherited weights, fine-tuned {rec['finetune']['epochs']} epochs (lr {rec['finetune']['lr']}); "
              f"baselines from scratch for {rec['baseline']['epochs']} epochs (lr {rec['baseline']['lr']}) = the "
              "planned supernet + fine-tune epochs. "
              f"{rec['train_images']} training images, batch {rec['batch_size']}; {rec['common']}. Search: space "
              f"evolution {rec['search']['space_evolution']}, evolution {rec['search']['evolution']}, inherited "
              f"accuracy on {rec['val_images_search']} held-out training images. The test set is used for these "
              "numbers only.", ""]
    L += ["| SRAM budget | flash budget | network | arch | MACs | SRAM (planner = .pte) | weights | fp32 top-1 | "
          "int8 top-1 (10k, C++ delegate) | Cortex-M7 instructions / inference |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        b, f = r["budget_bytes"] // KB, r["flash_budget_bytes"] // KB
        ins = r.get("searched_instructions")
        same = "=" if r["searched_deploy"]["sram_matches_plan_vit"] else "!="
        L.append(f"| {b} KB | {f} KB | searched | {r['searched_short']} | {r['searched_macs'] / 1e6:.1f} M | "
                 f"{r['sram_bytes']:,} B ({same}) | {r['searched_flash_bytes']:,} B | "
                 f"{_pct(r['searched_fp32_top1'])} | **{_pct(r['searched_int8_top1'])}** | "
                 f"{f'{ins:,}' if ins else '-'} |")
        if r.get("searched_arch_scratch_int8_top1") is not None:
            L.append(f"| {b} KB | {f} KB | searched arch, from scratch (diagnostic, {r['searched_arch_scratch_epochs']}"
                     f" epochs) | same | | | | {_pct(r['searched_arch_scratch_fp32_top1'])} | "
                     f"{_pct(r['searched_arch_scratch_int8_top1'])} | |")
        if r.get("baseline_int8_top1") is not None:
            ins = r.get("baseline_instructions")
            L.append(f"| {b} KB | {f} KB | uniform baseline | {r['baseline_short']} | {r['baseline_macs'] / 1e6:.1f} M"
                     f" | {r['baseline_sram_bytes']:,} B | {r['baseline_flash_bytes']:,} B | "
                     f"{_pct(r['baseline_fp32_top1'])} | **{_pct(r['baseline_int8_top1'])}** | "
                     f"{f'{ins:,}' if ins else '-'} |")
    wins = [r for r in doc["rows"] if r.get("baseline_int8_top1") is not None
            and r["searched_int8_top1"] > r["baseline_int8_top1"]]
    L += ["", f"Searched beats the uniform baseline at {len(wins)} of {len(doc['rows'])} budgets (int8, deployed). "
          + "; ".join(f"{r['budget_bytes'] // KB} KB: {100 * (r['searched_int8_top1'] - r['baseline_int8_top1']):+.2f}"
                      " points" for r in doc["rows"] if r.get("baseline_int8_top1") is not None) + "."]
    if doc.get("notes"):
        L += ["", "Notes:", ""] + [f"- {n}" for n in doc["notes"]]
    L += ["", "Baseline = for each patch size, the largest-MACs uniform full-rank ViT with attention width == "
          "embedding that fits both budgets by the planner; all were trained, the best on validation is shown "
          "(the others are in nas.json, `baseline_candidates`).", "",
          "![Pareto](nas_pareto.png)", ""]
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
