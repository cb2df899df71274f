"""Supernet training (sandwich sampling + in-place distillation) and fine-tuning of one extracted sub-net.

    net = train_supernet(FMNIST_SPACE, TrainConfig(epochs=3), "runs/fm")          # -> runs/fm/supernet.pt
    vit = finetune(arch, TrainConfig(epochs=2, lr=5e-4), "runs/fm/ft", init=extract(net, arch))

Both write a checkpoint after every epoch (atomically) holding the model, optimizer, scheduler, all RNG states,
the number of finished epochs and the per-epoch history; calling again with ``resume=True`` (the default)
continues from it and ends in exactly the state an uninterrupted run reaches: every batch order, augmentation and
sampled sub-net is a pure function of ``(seed, epoch, step)``.

Data parallel: run under ``torchrun --nproc_per_node N -m mcuformer.nas.train ...``. Each process takes its share
of every global batch; after the sandwich's backward passes the gradients are averaged with one flat
``all_reduce`` (gloo on CPU, nccl on GPU). Every rank samples the same sub-nets, so their parameters stay equal;
rank 0 alone writes checkpoints and shows progress bars.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoint import CheckpointError, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .data import FMNIST, Split, batches, load_fashion_mnist, num_batches
from .elastic.supernet import SuperNet
from .space import SPACES, Arch, Region, SearchSpace
from .vit import ViT

__all__ = [
    "TrainConfig",
    "train_supernet",
    "finetune",
    "evaluate",
    "load_supernet",
    "load_vit",
    "DistInfo",
    "dist_setup",
]

SUPERNET_CKPT = "supernet.pt"
FINETUNE_CKPT = "finetune.pt"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 3
    batch_size: int = 128  # global batch (all ranks together)
    lr: float = 1e-3
    min_lr: float = 1e-5
    warmup_steps: int = 100
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    grad_clip: float = 1.0
    num_random: int = 2  # sandwich: largest + smallest + this many random sub-nets per step
    distill: bool = True  # in-place distillation: sub-nets learn the largest sub-net's soft labels
    augment: bool = True
    train_subset: int | None = None  # use the first N training images (fast runs)
    eval_size: int | None = 2000  # validation images evaluated after each epoch (None: all)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    num_threads: int | None = None  # torch CPU threads; 1 is much faster than 2 when other jobs share 2 cores

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---- distributed -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def dist_setup(device: torch.device) -> DistInfo:
    """Join the process group that torchrun describes in the environment (no-op when not under torchrun)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    rank = dist.get_rank()
    if device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    return DistInfo(rank, dist.get_world_size())


def _barrier(info: DistInfo) -> None:
    if info.active:
        dist.barrier()


def _average_grads(params: list[nn.Parameter], info: DistInfo) -> None:
    if not info.active:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world_size
    off = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[off : off + n].view_as(g))
        off += n


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            return torch.device("cuda", local)
        return torch.device("cpu")
    return torch.device(name)


# ---- evaluation -------------------------------------------------------------------------------------------


@torch.no_grad()
def evaluate(model_fn: Callable[[torch.Tensor], torch.Tensor], split: Split, batch_size: int = 500,
             device: torch.device | str = "cpu", limit: int | None = None) -> float:
    """Top-1 accuracy of ``model_fn`` (images -> logits) on the first ``limit`` images of ``split``."""
    split = split.subset(limit)
    correct = 0
    for x, y in batches(split, batch_size, shuffle=False):
        correct += (model_fn(x.to(device)).argmax(-1).cpu() == y).sum().item()
    return correct / max(1, len(split))


# ---- the shared epoch loop ---------------------------------------------------------------------------------


def _param_groups(model: nn.Module, wd: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "pos" in name or "cls" in name else decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def _lr_lambda(cfg: TrainConfig, total_steps: int) -> Callable[[int], float]:
    floor = cfg.min_lr / cfg.lr

    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        t = min(1.0, (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

    return f


StepFn = Callable[[torch.Tensor, torch.Tensor, int, int], dict[str, float]]


def _fit(
    *,
    kind: str,
    model: nn.Module,
    step_fn: StepFn,
    eval_fn: Callable[[], dict[str, float]],
    meta: dict[str, Any],
    cfg: TrainConfig,
    ckpt_path: Path,
    train: Split,
    device: torch.device,
    info: DistInfo,
    resume: bool,
    step_hook: Callable[[int, int], None] | None,
    progress: bool,
) -> list[dict[str, Any]]:
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    # a data set smaller than one batch (a user's own) trains on all of it at every step
    batch_size = min(cfg.batch_size, len(train) // info.world_size * info.world_size)
    if batch_size < 1:
        raise ValueError(f"{len(train)} training images cannot be shared by {info.world_size} processes")
    steps_per_epoch = num_batches(len(train), batch_size, drop_last=True)
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg, cfg.epochs * steps_per_epoch))
    history: list[dict[str, Any]] = []
    start = 0
    if resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, kind)
        if state["meta"] != meta:
            raise CheckpointError(
                f"checkpoint {ckpt_path} belongs to another run ({state['meta']} != {meta}); "
                "use another output folder or delete it"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        start, history = int(state["epoch"]), list(state["history"])
        if info.main and start < cfg.epochs:
            print(f"[{kind}] resuming {ckpt_path} after epoch {start}/{cfg.epochs}", file=sys.stderr)
    params = [p for p in model.parameters() if p.requires_grad]
    for epoch in range(start, cfg.epochs):
        model.train()
        t0 = time.time()
        bar = tqdm(
            batches(train, batch_size, epoch=epoch, seed=cfg.seed, augment=cfg.augment, rank=info.rank,
                    world_size=info.world_size, drop_last=True),
            total=steps_per_epoch, desc=f"{kind} epoch {epoch + 1}/{cfg.epochs}", unit="step",
            disable=not (progress and info.main), leave=False, dynamic_ncols=True,
        )
        sums: dict[str, float] = {}
        for step, (x, y) in enumerate(bar):
            opt.zero_grad(set_to_none=True)
            logs = step_fn(x.to(device, non_blocking=True), y.to(device, non_blocking=True), epoch, step)
            _average_grads(params, info)
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            sched.step()
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            if step % 10 == 0:
                bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()}, refresh=False)
            if step_hook is not None:
                step_hook(epoch, step)
        bar.close()
        model.eval()
        row: dict[str, Any] = {"epoch": epoch + 1, "seconds": round(time.time() - t0, 2)}
        row.update({k: v / steps_per_epoch for k, v in sums.items()})
        if info.main:
            row.update(eval_fn())
        history.append(row)
        if info.main:
            save_checkpoint(ckpt_path, {
                "kind": kind, "meta": meta, "config": cfg.to_dict(), "epoch": epoch + 1,
                "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "rng": rng_state(), "history": history,
            })
            if progress:
                print(f"[{kind}] " + json.dumps(row), file=sys.stderr)
        _barrier(info)
    model.eval()
    return history


def _data(data: FMNIST | None, cfg: TrainConfig) -> FMNIST:
    data = data if data is not None else load_fashion_mnist()
    return FMNIST(data.train.subset(cfg.train_subset), data.val, data.test)


def _soft_ce(logits: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    return torch.sum(-F.softmax(teacher, dim=-1) * F.log_softmax(logits, dim=-1), dim=-1).mean()


# ---- supernet -------------------------------------------------------------------------------------------------


def sandwich_archs(space: SearchSpace, region: Region | None, num_random: int, seed: int, epoch: int,
                   step: int) -> list[Arch]:
    """Largest, smallest and ``num_random`` random sub-nets for one step (a pure function of its arguments)."""
    rng = random.Random(f"sandwich:{seed}:{epoch}:{step}")
    return [space.largest(region), space.smallest(region)] + [space.sample(rng, region) for _ in range(num_random)]


def train_supernet(
    space: SearchSpace,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    region: Region | None = None,
    data: FMNIST | None = None,
    resume: bool = True,
    step_hook: Callable[[int, int], None] | None = None,
    progress: bool = True,
) -> SuperNet:
    """Train the supernet of ``space`` (sub-nets drawn from ``region``, default: all) into ``out_dir/supernet.pt``."""
    device = _resolve_device(cfg.device)
    info = dist_setup(device)
    data = _data(data, cfg)
    torch.manual_seed(cfg.seed)
    model = SuperNet(space).to(device)
    region = region or space.full_region()
    meta = {"space": space.to_dict(), "region": region.to_dict()}
    big, small = space.largest(region), space.smallest(region)

    def step_fn(x: torch.Tensor, y: torch.Tensor, epoch: int, step: int) -> dict[str, float]:
        archs = sandwich_archs(space, region, cfg.num_random, cfg.seed, epoch, step)
        teacher = None
        logs = {}
        for j, a in enumerate(archs):
            out = model(x, a)
            if j == 0 or not cfg.distill:
                loss = F.cross_entropy(out, y, label_smoothing=cfg.label_smoothing)
                if j == 0:
                    teacher = out.detach()
            else:
                loss = _soft_ce(out, teacher)
            loss.backward()
            logs[("loss_largest", "loss_smallest")[j] if j < 2 else "loss_random"] = loss.item()
        return logs

    def eval_fn() -> dict[str, float]:
        return {
            "val_largest": evaluate(lambda x: model(x, big), data.val, device=device, limit=cfg.eval_size),
            "val_smallest": evaluate(lambda x: model(x, small), data.val, device=device, limit=cfg.eval_size),
        }

    _fit(kind="supernet", model=model, step_fn=step_fn, eval_fn=eval_fn, meta=meta, cfg=cfg,
         ckpt_path=Path(out_dir) / SUPERNET_CKPT, train=data.train, device=device, info=info, resume=resume,
         step_hook=step_hook, progress=progress)
    return model


def time_supernet_steps(space: SearchSpace, cfg: TrainConfig, region: Region | None, data: FMNIST,
                        steps: int = 10, warmup: int = 3) -> float:
    """Seconds per supernet training step (the sandwich of ``train_supernet``, on ``cfg.device``), measured on a
    throwaway supernet: used to size a time-boxed run (``epochs = time / (steps_per_epoch * this)``)."""
    device = _resolve_device(cfg.device)
    model = SuperNet(space).to(device).train()
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
    region = region or space.full_region()
    it = batches(data.train, cfg.batch_size, epoch=10_000, seed=cfg.seed, augment=cfg.augment, drop_last=True)
    t0 = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.time()
        x, y = next(it)
        x, y = x.to(device), y.to(device)
        opt.zero_grad(set_to_none=True)
        teacher = None
        for j, a in enumerate(sandwich_archs(space, region, cfg.num_random, cfg.seed, 10_000, step)):
            out = model(x, a)
            if j == 0:
                loss = F.cross_entropy(out, y, label_smoothing=cfg.label_smoothing)
                teacher = out.detach()
            else:
                loss = _soft_ce(out, teacher)
            loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.time() - t0) / steps


def load_supernet(path: str | Path, device: str | torch.device = "cpu") -> SuperNet:
    """Rebuild a trained supernet from its checkpoint (a folder or the ``supernet.pt`` file)."""
    path = Path(path)
    if path.is_dir():
        path = path / SUPERNET_CKPT
    state = load_checkpoint(path, "supernet")
    net = SuperNet(SearchSpace.from_dict(state["meta"]["space"]))
    net.load_state_dict(state["model"])
    return net.to(device).eval()


# ---- fine-tuning one sub-net --------------------------------------------------------------------------------


def finetune(
    arch: Arch,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    init: ViT | None = None,
    data: FMNIST | None = None,
    resume: bool = True,
    step_hook: Callable[[int, int], None] | None = None,
    progress: bool = True,
) -> ViT:
    """Train the standalone ``ViT(arch)`` (from ``init``'s weights, e.g. ``extract(supernet, arch)``, or from
    scratch when ``init`` is None) into ``out_dir/finetune.pt``. Same checkpointing and resume as the supernet."""
    device = _resolve_device(cfg.device)
    info = dist_setup(device)
    data = _data(data, cfg)
    torch.manual_seed(cfg.seed)
    model = ViT(arch)
    if init is not None:
        model.load_state_dict(init.state_dict())
    model = model.to(device)
    meta = {"arch": arch.to_dict(), "from_supernet": init is not None}

    def step_fn(x: torch.Tensor, y: torch.Tensor, epoch: int, step: int) -> dict[str, float]:
        loss = F.cross_entropy(model(x), y, label_smoothing=cfg.label_smoothing)
        loss.backward()
        return {"loss": loss.item()}

    def eval_fn() -> dict[str, float]:
        return {"val": evaluate(model, data.val, device=device, limit=cfg.eval_size)}

    _fit(kind="finetune", model=model, step_fn=step_fn, eval_fn=eval_fn, meta=meta, cfg=cfg,
         ckpt_path=Path(out_dir) / FINETUNE_CKPT, train=data.train, device=device, info=info, resume=resume,
         step_hook=step_hook, progress=progress)
    return model


def load_vit(path: str | Path, device: str | torch.device = "cpu") -> ViT:
    """Rebuild a fine-tuned standalone ViT from its checkpoint (a folder or the ``finetune.pt`` file)."""
    path = Path(path)
    if path.is_dir():
        path = path / FINETUNE_CKPT
    state = load_checkpoint(path, "finetune")
    vit = ViT(Arch.from_dict(state["meta"]["arch"]))
    vit.load_state_dict(state["model"])
    return vit.to(device).eval()


# ---- command line (also the torchrun entry point) ----------------------------------------------------------


def _synthetic(n: int, space: SearchSpace, seed: int = 0) -> FMNIST:
    """Random images/labels shaped like the space's data set (tests and smoke runs without the data set)."""
    g = torch.Generator().manual_seed(seed)
    shape = (n, space.in_chans, space.img_size, space.img_size)
    mk = lambda m: Split(torch.randint(0, 256, (m,) + shape[1:], generator=g, dtype=torch.uint8),  # noqa: E731
                         torch.randint(0, space.num_classes, (m,), generator=g))
    return FMNIST(mk(n), mk(max(1, n // 4)), mk(max(1, n // 4)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m mcuformer.nas.train",
        description="Train the NAS supernet (or fine-tune one sub-net). Works under torchrun for data parallel.",
    )
    p.add_argument("--out", required=True, help="output folder (checkpoint written after every epoch)")
    p.add_argument("--space", default="fmnist-28", choices=sorted(SPACES))
    p.add_argument("--arch", help="fine-tune this Arch (JSON) from scratch instead of training the supernet")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--train-subset", type=int, default=None)
    p.add_argument("--eval-size", type=int, default=TrainConfig.eval_size)
    p.add_argument("--patches", type=int, nargs="*", help="restrict the supernet's patch sizes (a region)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--synthetic", type=int, default=0, help="use N random images instead of Fashion-MNIST")
    p.add_argument("--no-resume", action="store_true")
    p.add_argument("--result-json", help="write the final history / parameter checksum here")
    a = p.parse_args(argv)
    space = SPACES[a.space]
    cfg = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, train_subset=a.train_subset,
                      eval_size=a.eval_size, seed=a.seed, device=a.device)
    data = _synthetic(a.synthetic, space, a.seed) if a.synthetic else load_fashion_mnist(a.data_dir)
    region = Region(tuple(a.patches), space.rank_ratios) if a.patches else None
    if a.arch:
        model = finetune(Arch.from_json(a.arch), cfg, a.out, data=data, resume=not a.no_resume)
    else:
        model = train_supernet(space, cfg, a.out, region=region, data=data, resume=not a.no_resume)
    info = DistInfo(dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else DistInfo()
    if a.result_json and info.main:
        checksum = float(sum(p.detach().double().sum().item() for p in model.parameters()))
        Path(a.result_json).write_text(json.dumps({"world_size": info.world_size, "param_sum": checksum}))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
