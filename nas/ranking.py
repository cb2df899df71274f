"""How well inherited accuracy ranks sub-nets: Kendall's tau against accuracy trained from scratch (issue 11, 4).

    rows, taus = ranking_study(supernet, archs, data, TrainConfig(epochs=10), out_dir="runs/ranking",
                               short=MAIN_JOB.rerank)    # taus: {"inherited": ..., "short_finetune": ...}
    archs = spread_subnets(space, n=12, fits=mem.fits)       # sub-nets spread over the space by MACs

Each sub-net is trained from scratch with the same recipe into ``out_dir/<index>/`` (checkpointed: an interrupted
study resumes), and scored on the same validation images as its inherited accuracy; with ``short``, also after the
short fine-tune from its inherited weights that the search's rerank step uses (search/rerank.py). A CPU run (minutes):

    .venv/bin/python -m mcuformer.nas.ranking --supernet out/nas/supernet.pt --n 12 --epochs 1 \\
        --train-subset 5000 --val 1000 --out out/ranking
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from mcuformer.io import write_text_atomic

from .data import FMNIST, load_fashion_mnist
from .elastic.supernet import SuperNet
from .pipeline import MAIN_JOB
from .search.common import inherited_accuracy
from .search.rerank import short_finetune_accuracy
from .space import Arch, Region, SearchSpace, macs
from .train import TrainConfig, evaluate, finetune, load_supernet

__all__ = ["kendall_tau", "spread_subnets", "ranking_study"]


def kendall_tau(x: list[float], y: list[float]) -> float:
    """Kendall's tau-b (ties in either list count as neither concordant nor discordant)."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("kendall_tau needs two lists of the same length >= 2")
    conc = disc = tx = ty = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif (dx > 0) == (dy > 0):
                conc += 1
            else:
                disc += 1
    denom = ((conc + disc + tx) * (conc + disc + ty)) ** 0.5
    return (conc - disc) / denom if denom else 0.0


def spread_subnets(space: SearchSpace, n: int, fits: Callable[[Arch], bool] = lambda a: True,
                   region: Region | None = None, seed: int = 0, pool: int = 400) -> list[Arch]:
    """n distinct sub-nets that fit, spread over the space: the MACs quantiles of a random pool of fitting ones."""
    rng = random.Random(f"ranking:{seed}")
    cands = sorted({a for a in (space.sample(rng, region) for _ in range(pool)) if fits(a)}, key=macs)
    if len(cands) < n:
        raise ValueError(f"only {len(cands)} distinct fitting sub-nets in a pool of {pool}; need {n}")
    return [cands[round(i * (len(cands) - 1) / (n - 1))] for i in range(n)] if n > 1 else cands[:1]


def ranking_study(supernet: SuperNet, archs: list[Arch], data: FMNIST, cfg: TrainConfig, out_dir: str | Path,
                  val_limit: int | None = 2000, progress: bool = True, short: TrainConfig | None = None,
                  ) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Inherited (and, with ``short``, briefly fine-tuned) vs from-scratch validation accuracy of each arch, and
    Kendall's tau of each ranking against the from-scratch one."""
    out_dir = Path(out_dir)
    acc = inherited_accuracy(supernet.eval(), data.val, limit=val_limit)
    short = None if short is None else replace(short, eval_size=val_limit)
    rows = []
    for i, arch in enumerate(archs):
        vit = finetune(arch, cfg, out_dir / f"{i:02d}", data=data, progress=progress).cpu().eval()
        rows.append({"arch": arch.to_dict(), "short": arch.short(), "macs": macs(arch), "inherited": acc(arch),
                     "scratch": evaluate(vit, data.val, limit=val_limit)})
        if short is not None:
            rows[-1]["short_finetune"] = short_finetune_accuracy(supernet, arch, data, short,
                                                                 out_dir / f"short_{i:02d}")
    scratch = [r["scratch"] for r in rows]
    taus = {k: kendall_tau([r[k] for r in rows], scratch) for k in ("inherited", "short_finetune") if k in rows[0]}
    write_text_atomic(out_dir / "ranking.json", json.dumps(
        {"kendall_tau": taus, "rows": rows, "train": cfg.to_dict(), "short_finetune": short and short.to_dict()},
        indent=1))
    return rows, taus


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mcuformer.nas.ranking", description=__doc__.split("\n")[0])
    ap.add_argument("--supernet", required=True, help="a supernet checkpoint (supernet.pt)")
    ap.add_argument("--n", type=int, default=12, help="sub-nets, spread over the space by MACs")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--train-subset", type=int, default=5000)
    ap.add_argument("--val", type=int, default=1000, help="validation images per accuracy")
    ap.add_argument("--patches", type=int, nargs="*", help="patch sizes to draw from (default: all of the space)")
    ap.add_argument("--no-short", action="store_true", help="skip the short fine-tunes (the search's rerank step)")
    ap.add_argument("--out", default="runs/ranking")
    a = ap.parse_args(argv)
    if not Path(a.supernet).is_file():
        print(f"ranking: no supernet checkpoint at {a.supernet}", file=sys.stderr)
        return 1
    sn = load_supernet(a.supernet)
    region = Region(tuple(a.patches), sn.space.rank_ratios) if a.patches else None
    archs = spread_subnets(sn.space, a.n, region=region)
    # the main job's fine-tuning recipe (no augmentation: these are short schedules), shortened
    cfg = replace(MAIN_JOB.finetune, epochs=a.epochs, train_subset=a.train_subset, eval_size=a.val, warmup_steps=20)
    rows, taus = ranking_study(sn, archs, load_fashion_mnist(), cfg, a.out, val_limit=a.val,
                               short=None if a.no_short else MAIN_JOB.rerank)
    for r in rows:
        print(f"{r['short']:<48} inherited {r['inherited']:.4f}  "
              + (f"short fine-tune {r['short_finetune']:.4f}  " if "short_finetune" in r else "")
              + f"scratch {r['scratch']:.4f}")
    print("Kendall tau against from-scratch over " + f"{len(rows)} sub-nets: "
          + ", ".join(f"{k} {v:.3f}" for k, v in taus.items()) + f" -> {Path(a.out) / 'ranking.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
