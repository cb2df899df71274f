"""Memory benchmark: our arena vs ExecuTorch's greedy planner vs MCUFormer's formula (issue 3), and the same
architecture written in every model style the backend canonicalises (issue 14: the deployed arena vs plan_vit's).

    .venv/bin/python -m benchmarks.bench_memory                # prints the tables, writes benchmarks/results/memory.json
    .venv/bin/python -m benchmarks.bench_memory --styles-only  # recomputes only the style rows (minutes)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from mcuformer.io import write_json_atomic
from mcuformer.nas.space import Arch

from .et_greedy import et_greedy_arena

HERE = Path(__file__).resolve().parent


def _arch(img, chans, classes, patch, embed, depth, heads, head_dim, mlp, rank) -> Arch:
    return Arch(img_size=img, in_chans=chans, num_classes=classes, patch_size=patch, embed_dim=embed, depth=depth,
                num_heads=(heads,) * depth, head_dim=head_dim, mlp_ratio=(mlp,) * depth, rank_ratio=(rank,) * depth)


ROWS: list[tuple[str, Arch]] = [
    ("mcuformer-largest p16 E216 D14 H4 M4 r.95", _arch(240, 3, 1000, 16, 216, 14, 4, 64, 4.0, 0.95)),
    ("anchor p20 E192 D12 H3 M4 r.9", _arch(240, 3, 1000, 20, 192, 12, 3, 64, 4.0, 0.9)),
    ("anchor p16 E216 D1 H4 M4 r.9", _arch(240, 3, 1000, 16, 216, 1, 4, 64, 4.0, 0.9)),
    ("mcuformer p24 E168 D12 H3 M3.5 r.4", _arch(240, 3, 1000, 24, 168, 12, 3, 64, 3.5, 0.4)),
    ("mcuformer p32 E192 D13 H4 M4 r.6", _arch(240, 3, 1000, 32, 192, 13, 4, 64, 4.0, 0.6)),
    ("deit-tiny 224 p16 E192 D12 H3", _arch(224, 3, 1000, 16, 192, 12, 3, 64, 4.0, 1.0)),
    ("fmnist p7 E32 D3 H2 M2 r.5", _arch(28, 1, 10, 7, 32, 3, 2, 16, 2.0, 0.5)),
    ("fmnist p4 E64 D4 H4 M4 r1", _arch(28, 1, 10, 4, 64, 4, 4, 16, 4.0, 1.0)),
    ("fmnist p2 E96 D6 H4 M3 r.7", _arch(28, 1, 10, 2, 96, 6, 4, 16, 3.0, 0.7)),
]

# (architecture, style) rows: each style of tests/models.py quantized (random weights, 3 random calibration images)
# and lowered with an int8 image the plan may overwrite; its blob's arena next to plan_vit(arch)'s.
STYLE_ARCHS: list[tuple[str, Arch]] = [
    ("28 px p7 E32 D2 H2", _arch(28, 1, 10, 7, 32, 2, 2, 16, 2.0, 1.0)),
    ("240 px p16 E216 D2 H4", _arch(240, 3, 10, 16, 216, 2, 4, 54, 4.0, 1.0)),
]

RUNTIME_RESERVE = 16 * 1024  # stack + runtime state allowance when checking a 320 KB fit
BUDGET = 320 * 1024


def row(name: str, arch: Arch, et: bool = True, sram_budget: int = 0) -> dict:
    """One network's memory: our plan (plan_vit: int8 image, overwritten; sram_budget 0: one row per token loop, the
    smallest plan, what the network needs before a budget buys tiles), its live-set bound, ExecuTorch's greedy arena
    for the same network (et=False skips it: it exports and plans the whole network) and the formula."""
    from mcuformer.backend.memory import plan_vit

    rep = plan_vit(arch, sram_budget=sram_budget)  # int8 image, overwrite_input=True
    imagenet = arch.img_size >= 224 and arch.in_chans == 3
    greedy = et_greedy_arena(arch) if et else None
    return {
        "name": name, "arch": arch.to_dict(), "tokens": arch.num_tokens,
        "et_greedy_arena_bytes": greedy, "paper_formula_bytes": rep.paper_formula_bytes,
        "arena_bytes": rep.arena_bytes, "input_bytes": rep.input_bytes, "total_sram_bytes": rep.total_sram_bytes,
        "bound_bytes": rep.bound_bytes, "efficiency": round(rep.efficiency, 4), "flash_bytes": rep.flash_bytes,
        "peak_op": rep.peak_op,
        "within_2pct": rep.planned_bytes <= 1.02 * rep.bound_bytes,
        "vs_et_greedy": round(greedy / rep.total_sram_bytes, 1) if greedy else None,
        "fits_320KB_with_reserve": rep.total_sram_bytes + RUNTIME_RESERVE <= BUDGET if imagenet else None,
    }


def rows(et: bool = True) -> list[dict]:
    return [row(name, arch, et) for name, arch in ROWS]


def style_row(name: str, arch: Arch, style: str) -> dict:
    """The memory of arch written in `style` (the lowered blob's own report) against plan_vit(arch), both with one
    row per token loop (sram_budget=0): the schedule's smallest plan, which a style that escaped canonicalisation
    would exceed (tests/test_canonical_styles.py checks the default, tiled, lowering too)."""
    import torch

    sys.path.insert(0, str(HERE.parent / "tests"))
    from models import styled_model

    from mcuformer.backend.memory import plan_vit
    from mcuformer.backend.memory.report import blob_report
    from mcuformer.backend.pipeline import lower, quantize

    shape = (1, arch.in_chans, arch.img_size, arch.img_size)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen)
    q = quantize(styled_model(arch, style), (x,), [torch.randn(shape, generator=gen) for _ in range(3)])
    low = lower(q, (x,), overwrite_input=True, int8_input=True, sram_budget=0)
    rep, plan = blob_report(low.programs()[0]), plan_vit(arch, sram_budget=0)
    return {"name": name, "style": style, "arch": arch.to_dict(), "delegated": low.undelegated_ops() == [],
            "arena_bytes": rep.arena_bytes, "bound_bytes": rep.bound_bytes, "total_sram_bytes": rep.total_sram_bytes,
            "plan_vit_arena_bytes": plan.arena_bytes, "plan_vit_total_sram_bytes": plan.total_sram_bytes,
            "ratio": round(rep.total_sram_bytes / plan.total_sram_bytes, 4), "peak_op": rep.peak_op}


def style_rows() -> list[dict]:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from models import STYLES

    return [style_row(name, arch, style) for name, arch in STYLE_ARCHS for style in STYLES]


def print_styles(res: list[dict]) -> None:
    hdr = (f"{'architecture':24s} {'style':14s} {'delegated':>9s} {'arena':>8s} {'bound':>8s} {'total':>8s} "
           f"{'plan_vit':>8s} {'ratio':>6s}")
    print(hdr)
    print("-" * len(hdr))
    for r in res:
        print(f"{r['name']:24s} {r['style']:14s} {str(r['delegated']):>9s} {r['arena_bytes']:>8,d} "
              f"{r['bound_bytes']:>8,d} {r['total_sram_bytes']:>8,d} {r['plan_vit_total_sram_bytes']:>8,d} "
              f"{r['ratio']:>6.3f}")
    print("total = int8 image (overwritten, input pool) + arena; ratio = total / plan_vit's total")


def main() -> None:
    out = HERE / "results" / "memory.json"
    if "--styles-only" in sys.argv[1:]:
        res = [r for r in json.loads(out.read_text()) if "style" not in r]
        styles = style_rows()
        print_styles(styles)
        write_json_atomic(out, res + styles)
        print(f"written {out}")
        return
    res = rows()
    hdr = (f"{'network':42s} {'ET greedy':>11s} {'formula':>9s} {'ours total':>10s} {'arena':>8s} {'bound':>8s} "
           f"{'eff':>6s} {'ET/ours':>7s}")
    print(hdr)
    print("-" * len(hdr))
    for r in res:
        print(f"{r['name']:42s} {r['et_greedy_arena_bytes'] or 0:>11,d} {r['paper_formula_bytes']:>9,d} "
              f"{r['total_sram_bytes']:>10,d} {r['arena_bytes']:>8,d} {r['bound_bytes']:>8,d} {r['efficiency']:>6.3f} "
              f"{r['vs_et_greedy'] or 0:>7.1f}")
    styles = style_rows()
    print()
    print_styles(styles)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out, res + styles)
    print(f"\nours total = int8 input image (overwritten, input pool) + arena; efficiency = (pool + arena) / bound;"
          f" written {out}")


if __name__ == "__main__":
    main()
