"""Choosing among the search's best: a short fine-tune of each from its inherited weights, then the best of those.

    acc = short_finetune_accuracy(supernet, arch, data, TrainConfig(epochs=1, train_subset=5000), "runs/rr/0")
    best, rows = rerank(supernet, candidates, data, cfg, "runs/rr", top=4)

Inherited accuracy ranks sub-nets poorly after a short supernet schedule: on the main job's supernet (3 epochs on
20k images, patch 7) Kendall's tau against from-scratch accuracy over 12 sub-nets spread over the space was 0.34;
after one epoch on 5,000 images from the inherited weights it was 0.67 (``python -m mcuformer.nas.ranking``). The
fine-tunes are checkpointed under ``out_dir/<i>/``, so an interrupted run resumes them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data import FMNIST
from ..elastic.supernet import SuperNet
from ..extract import extract
from ..space import Arch
from ..train import TrainConfig, evaluate, finetune
from .common import Candidate

__all__ = ["short_finetune_accuracy", "rerank"]


def short_finetune_accuracy(supernet: SuperNet, arch: Arch, data: FMNIST, cfg: TrainConfig, out_dir: str | Path,
                            progress: bool = False) -> float:
    """Validation accuracy (the first ``cfg.eval_size`` images) of ``arch`` after ``cfg``'s fine-tune from the
    supernet's weights."""
    vit = finetune(arch, cfg, out_dir, init=extract(supernet.cpu(), arch), data=data, progress=progress)
    return evaluate(vit.cpu().eval(), data.val, limit=cfg.eval_size)


def rerank(supernet: SuperNet, candidates: list[Candidate], data: FMNIST, cfg: TrainConfig, out_dir: str | Path,
           top: int, progress: bool = True) -> tuple[Candidate, list[dict[str, Any]]]:
    """The ``top`` distinct fitting candidates by inherited accuracy, each fine-tuned briefly (``cfg``); returns the
    one with the best accuracy after it, and a row per candidate (inherited and short fine-tune accuracy)."""
    best: dict[Arch, Candidate] = {}
    for c in candidates:
        if c.fits and c.score is not None and (c.arch not in best or c.score > best[c.arch].score):
            best[c.arch] = c
    chosen = sorted(best.values(), key=lambda c: (-c.score, c.sram_bytes))[:max(1, top)]
    rows = []
    for i, c in enumerate(chosen):
        acc = short_finetune_accuracy(supernet, c.arch, data, cfg, Path(out_dir) / f"{i:02d}")
        rows.append({"arch": c.arch.to_dict(), "short": c.arch.short(), "inherited": c.score,
                     "short_finetune": acc})
        if progress:
            print(f"[rerank {i + 1}/{len(chosen)}] {c.arch.short()}: inherited {100 * c.score:.2f}%, after a short "
                  f"fine-tune {100 * acc:.2f}%", flush=True)
    i = max(range(len(chosen)), key=lambda j: (rows[j]["short_finetune"], -chosen[j].sram_bytes))
    return chosen[i], rows
