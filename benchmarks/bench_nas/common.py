"""What every stage of the NAS benchmark shares: the budgets, the results folder, logging, the training settings."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"  # --results changes it, before any stage runs
KB = 1024
BUDGETS = [(16 * KB, 128 * KB), (32 * KB, 256 * KB), (64 * KB, 512 * KB)]  # (SRAM, flash) bytes


def log(*a: Any) -> None:
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def train_config(a: argparse.Namespace, **kw: Any):
    from mcuformer.nas.train import TrainConfig

    base = dict(batch_size=a.batch_size, lr=a.lr, train_subset=a.train_subset, eval_size=a.val_limit,
                device=a.device, num_threads=a.threads, warmup_steps=100)
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
