"""``python -m mcuformer.nas`` — the NAS stage on its own (the project CLI can delegate to :func:`main`).

    python -m mcuformer.nas search --budget 64KB [--flash 1MB] [--epochs 3] [--out runs/nas]
    python -m mcuformer.nas shape240 [--budget 320KB] [--out runs/nas/shape240.json]
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import replace
from pathlib import Path

from mcuformer.io import write_json_atomic

__all__ = ["main", "parse_bytes"]


def parse_bytes(text: str) -> int:
    """'64KB' / '64K' / '65536' / '1MB' -> bytes (KB = 1024 B, as the budgets of MCUFormer and of the F746)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)(?:i?[bB])?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 64KB, 320K, 1MB, 65536)")
    return int(float(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mcuformer.nas", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("search", help="train the supernet (resumable), evolve the space, search under a budget, "
                       "fine-tune the chosen sub-net")
    s.add_argument("--budget", type=parse_bytes, default=parse_bytes("64KB"), help="SRAM budget (default 64KB)")
    s.add_argument("--flash", type=parse_bytes, default=None, help="flash budget for weights (default: none)")
    s.add_argument("--epochs", type=int, default=None, help="supernet epochs (default: the preset's)")
    s.add_argument("--finetune-epochs", type=int, default=None)
    s.add_argument("--preset", choices=["main", "benchmark"], default="main")
    s.add_argument("--out", default="runs/nas")
    s.add_argument("--data-dir", default=None)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is best on a busy 2-core box)")
    g = sub.add_parser("shape240", help="MCUFormer's 240 px space, no data: largest sub-nets that fit by the "
                       "backend planner vs by the paper's formula")
    g.add_argument("--budget", type=parse_bytes, default=parse_bytes("320KB"))
    g.add_argument("--out", default=None, help="write the report as JSON here")
    a = p.parse_args(argv)

    from . import pipeline as P  # noqa: PLC0415 - keep --help fast
    from .data import load_fashion_mnist  # noqa: PLC0415

    if a.cmd == "search":
        preset = P.MAIN_JOB if a.preset == "main" else P.BENCHMARK
        if a.threads:
            preset = replace(preset, supernet=replace(preset.supernet, num_threads=a.threads),
                             finetune=replace(preset.finetune, num_threads=a.threads))
        data = load_fashion_mnist(a.data_dir)
        res = P.search(a.budget, a.flash, epochs=a.epochs, out_dir=a.out, preset=preset, data=data, seed=a.seed)
        print(f"searched: {res.arch.short()}  val(inherited) {res.val_acc:.4f}  SRAM {res.sram_bytes} B / "
              f"{a.budget} B  flash {res.flash_bytes} B")
        vit = P.finetune_searched(res, a.finetune_epochs, preset=preset, data=data, seed=a.seed,
                                  out_dir=Path(a.out) / f"ft_{a.budget}")
        print(f"fine-tuned fp32 test top-1: {P.test_accuracy(vit, data):.4f}  "
              f"(checkpoint {Path(a.out) / f'ft_{a.budget}' / 'finetune.pt'})")
    else:
        rep = P.shape_only_240(a.budget).to_dict()
        for name, r in rep["per_predictor"].items():
            top = r["top"][0] if r["top"] else None
            print(f"{name}: {100 * r['fit_share']:.1f}% of random sub-nets fit; largest: "
                  + (f"{top['short']} ({top['macs'] / 1e6:.0f} MMACs, planner {top.get('planner_sram_bytes')} B, "
                     f"formula {top['paper_formula_bytes']} B)" if top else r.get("error", "none")))
        print("agreement on the random sample:", rep["agreement"])
        if a.out:
            write_json_atomic(a.out, rep, indent=1)  # creates the folder; a failed write keeps the previous file
    return 0


if __name__ == "__main__":
    sys.exit(main())
