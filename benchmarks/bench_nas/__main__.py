"""`python -m benchmarks.bench_nas STAGE ...`: the NAS benchmark's subcommands (benchmarks/bench_nas/__init__.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mcuformer.nas.space import FMNIST_SPACE

from . import __doc__ as DOC
from . import common
from .common import REPO
from .evaluate import cmd_evaluate, cmd_qemu
from .report import cmd_render
from .search import cmd_plan, cmd_shape240
from .train import cmd_pack, cmd_train, cmd_worker


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_nas", description=DOC.split("\n")[0])
    p.add_argument("--results", default=str(common.RESULTS), help="folder of nas.json, nas.md, nas_pareto.png, ... "
                                                                   f"(default {common.RESULTS.relative_to(REPO)})")
    sub = p.add_subparsers(dest="cmd", required=True)
    pl = sub.add_parser("plan", help="the baseline candidates of each budget (planner-checked) -> JSON")
    pl.add_argument("--out", default=str(common.RESULTS / "nas_plan.json"))
    pl.add_argument("--space", default=FMNIST_SPACE.name)
    pl.add_argument("--patches", type=int, nargs="*", default=None, help="baselines of these patch sizes (all)")
    pl.set_defaults(func=cmd_plan)
    for name, func in (("train", cmd_train), ("worker", cmd_worker), ("pack", cmd_pack)):
        t = sub.add_parser(name)
        t.add_argument("--out", default=str(REPO / "runs" / "nas_bench" / "gpu"))
        t.add_argument("--plan", default=str(common.RESULTS / "nas_plan.json"))
        t.add_argument("--data-dir", default=None)
        t.add_argument("--space", default=FMNIST_SPACE.name)
        t.add_argument("--patches", type=int, nargs="*", default=None, help="supernet/search patch sizes (all)")
        t.add_argument("--device", default="auto")
        t.add_argument("--threads", type=int, default=2)
        t.add_argument("--train-subset", type=int, default=None)
        t.add_argument("--batch-size", type=int, default=256)
        t.add_argument("--lr", type=float, default=1e-3)
        t.add_argument("--val-limit", type=int, default=2000)
        t.add_argument("--supernet-epochs", type=int, default=0, help="0: from a timing of the first steps")
        t.add_argument("--supernet-seconds", type=float, default=120.0)
        t.add_argument("--contention", type=float, default=1.3)
        t.add_argument("--calib-steps", type=int, default=10)
        t.add_argument("--finetune-epochs", type=int, default=8)
        t.add_argument("--baseline-epochs", type=int, default=0,
                       help="(b) and (c) from scratch (0: the supernet's + the fine-tune's epochs)")
        t.add_argument("--population", type=int, default=20)
        t.add_argument("--generations", type=int, default=10)
        t.add_argument("--parents", type=int, default=8)
        t.add_argument("--space-iters", type=int, default=3)
        t.add_argument("--space-samples", type=int, default=12)
        t.add_argument("--rerank-top", type=int, default=4, help="the search's best re-ranked by a short fine-tune")
        t.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                       help="crop + flip (pays in long schedules only)")
        t.add_argument("--ranking-n", type=int, default=8, help="sub-nets per budget in the Kendall tau study")
        t.add_argument("--ranking-epochs", type=int, default=2, help="their from-scratch epochs")
        t.add_argument("--ranking-subset", type=int, default=10000, help="on this many training images")
        if name == "train":
            t.add_argument("--deadline", type=float, default=260.0, help="seconds for the whole run")
            t.add_argument("--after-supernet-seconds", type=float, default=90.0,
                           help="seconds kept for search + fine-tune + packing")
            t.add_argument("--pack-seconds", type=float, default=12.0)
            t.add_argument("--repack-every", type=float, default=30.0)
            t.add_argument("--baselines", choices=["with-supernet", "with-search"], default="with-supernet",
                           help="when the baselines train: beside the supernet (short runs; it slows the supernet "
                                "~2.5x on one GPU) or beside search + fine-tune (long runs: the supernet alone)")
            t.add_argument("--pack", default=None, help="folder for nas_bundle.tar (e.g. $OUT)")
        elif name == "pack":
            t.add_argument("--pack", default=None, help="folder for the nas_*.tar files (default: --out)")
        else:
            t.add_argument("--role", required=True,
                           choices=["supernet", "baseline", "search", "scratch", "ranking"])
            t.add_argument("--budget", default=None, help="a budget by its latency, e.g. 15ms (common.LATENCY_MS)")
            t.add_argument("--ablation", default=None, choices=common.ABLATIONS,
                           help="search the space without its low-rank / patch-size choices")
            t.add_argument("--deadline", type=float, default=0)
            t.add_argument("--after-supernet-seconds", type=float, default=0)
            t.add_argument("--pack-seconds", type=float, default=0)
            t.add_argument("--repack-every", type=float, default=0)
            t.add_argument("--baselines", default="with-supernet")
        t.set_defaults(func=func)
    e = sub.add_parser("evaluate")
    e.add_argument("--bundle", required=True, help="nas_bundle.tar or its extracted bundle/ folder")
    e.add_argument("--work", default=str(REPO / "runs" / "nas_bench" / "eval"))
    e.add_argument("--qemu-images", type=int, default=200, help="test images run in QEMU (compared to the host's)")
    e.add_argument("--skip-qemu", action="store_true")
    e.add_argument("--test-limit", type=int, default=None, help="int8 on the first N test images (default all 10k)")
    e.add_argument("--budgets", nargs="*", help="e.g. 15ms 50ms (default all)")
    e.add_argument("--threads", type=int, default=1)
    e.set_defaults(func=cmd_evaluate)
    rd = sub.add_parser("render", help="re-render nas.md and the plot from nas.json")
    rd.add_argument("--note", action="append")
    rd.add_argument("--clear-notes", action="store_true")
    rd.set_defaults(func=cmd_render)
    q = sub.add_parser("qemu", help="(re)run the QEMU instruction counts from the saved .pte files")
    q.add_argument("--work", default=str(REPO / "runs" / "nas_bench" / "eval"))
    q.add_argument("--qemu-images", type=int, default=200)
    q.add_argument("--force", action="store_true")
    q.set_defaults(func=cmd_qemu)
    s = sub.add_parser("shape240")
    s.add_argument("--samples", type=int, default=500)
    s.add_argument("--population", type=int, default=50)
    s.add_argument("--generations", type=int, default=20)
    s.set_defaults(func=cmd_shape240)
    a = p.parse_args(argv)
    common.RESULTS = Path(a.results)
    return a.func(a)


sys.exit(main())
