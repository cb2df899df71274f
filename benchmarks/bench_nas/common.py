"""What every stage of the NAS benchmark shares: the budgets, the ablations, the results folder, logging, the training
settings."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import torch

from mcuformer.nas.search.common import Budget

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"  # --results changes it, before any stage runs
KB = 1024
BOARD = "stm32f746"
# Latency points at the F746's 216 MHz (SRAM: the board's, less the firmware's; flash: its 1 MB). Each binds for the
# best uniform ViT (largest MACs, full rank) of FMNIST_SMALL_SPACE at patch 7, by the predictors:
#   15 ms: p7 E64 D3 H2 M3 (99% of the latency, 23% of the flash, <1% of the SRAM)
#   25 ms: p7 E96 D3 H1 M3 (91%, 32%, <1%)    50 ms: p7 E96 D5 H2 M4 (96%, 60%, <1%)
# and none admits the space's largest uniform ViT (p7 E96 D6 H4 M4: 67 ms). With the exact planner SRAM binds
# nothing at 28 px (the largest sub-nets need ~10 KB of the F746's ~300 KB).
LATENCY_MS = (15.0, 25.0, 50.0)
# The search-space ablations: the same budgets, searched in the space without one kind of choice (on the same
# supernet: each is a restriction of its space).
ABLATIONS = ("no-lowrank", "one-patch")


def budgets(latency_ms: tuple[float, ...] = LATENCY_MS) -> list[Budget]:
    return [Budget.for_board(BOARD, latency_ms=ms) for ms in latency_ms]


def budget_key(b: Budget) -> str:
    """The name of a budget in file names and on the command line (``--budget 15ms``)."""
    return f"{b.latency_ms:g}ms"


def budget_of(key: str) -> Budget:
    return next(b for b in budgets() if budget_key(b) == key)


def ablated(space, ablation: str | None):  # noqa: ANN001, ANN201 - SearchSpace in, SearchSpace out
    """``space`` without its low-rank choices (full rank only) or without its patch-size choices (its largest patch,
    the fewest tokens); ``None``: the space itself."""
    if not ablation:
        return space
    if ablation == "no-lowrank":
        return dataclasses.replace(space, name=f"{space.name}-no-lowrank", rank_ratios=(1.0,))
    if ablation == "one-patch":
        return dataclasses.replace(space, name=f"{space.name}-one-patch", patch_sizes=space.patch_sizes[:1])
    raise ValueError(f"unknown ablation {ablation!r}; known: {', '.join(ABLATIONS)}")


def run_name(stage: str, b: Budget, ablation: str | None = None) -> str:
    """search_15ms, ft_15ms_no-lowrank, ...: one folder (and one packed file) per stage, budget and ablation."""
    return f"{stage}_{budget_key(b)}" + (f"_{ablation}" if ablation else "")


def log(*a: Any) -> None:
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def train_config(a: argparse.Namespace, **kw: Any):
    from mcuformer.nas.train import TrainConfig

    base = dict(batch_size=a.batch_size, lr=a.lr, train_subset=a.train_subset, eval_size=a.val_limit,
                device=a.device, num_threads=a.threads, warmup_steps=100, augment=a.augment)
    base.update(kw)
    return TrainConfig(**base)


def load_data(a: argparse.Namespace):
    from mcuformer.nas.data import load_fashion_mnist

    return load_fashion_mnist(a.data_dir)


def space_of(a: argparse.Namespace):
    from mcuformer.nas.space import SPACES

    return SPACES[a.space]


def patches_of(a: argparse.Namespace) -> tuple[int, ...]:
    return tuple(a.patches) if a.patches else space_of(a).patch_sizes


def setup_torch() -> None:
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")  # TF32 on the tensor cores
