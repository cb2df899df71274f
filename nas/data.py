"""Fashion-MNIST from its IDX ``.gz`` files, as in-memory tensors, with a fixed search-validation split.

    data = load_fashion_mnist()                # FMNIST(train, val, test); images uint8 N x 1 x 28 x 28
    for x, y in batches(data.train, 128, epoch=0, seed=0, augment=True): ...

``train`` is the training set minus ``val_size`` images held out (fixed by ``split_seed``) for the search;
``test`` is the official test set, for final reporting only. Batching, shuffling and augmentation (random crop
with zero padding, horizontal flip) are done on whole batches with a generator seeded by ``(seed, epoch)``, so an
epoch's batches are a pure function of those numbers (what exact resume relies on).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "DEFAULT_DIR",
    "MEAN",
    "STD",
    "Split",
    "FMNIST",
    "DatasetMissing",
    "calibration_images",
    "read_idx",
    "load_fashion_mnist",
    "batches",
    "normalize",
    "num_batches",
]

DEFAULT_DIR = Path(os.environ.get("MCUFORMER_FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training-set pixel statistics (in [0, 1])
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class DatasetMissing(FileNotFoundError):
    pass


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # uint8, N x 1 x H x W
    labels: torch.Tensor  # int64, N

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, n: int | None) -> "Split":
        return self if n is None or n >= len(self) else Split(self.images[:n], self.labels[:n])


@dataclass(frozen=True)
class FMNIST:
    train: Split
    val: Split
    test: Split


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not): magic, dims (big-endian uint32), then the data."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"cannot read IDX file {path}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic)")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if raw[2] not in dtypes:
        raise ValueError(f"{path}: unknown IDX data type 0x{raw[2]:02x}")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    offset = 4 + 4 * ndim
    dt = np.dtype(dtypes[raw[2]])
    count = int(np.prod(dims))
    if len(raw) - offset < count * dt.itemsize:
        raise ValueError(f"{path} is truncated: {len(raw) - offset} data bytes, expected {count * dt.itemsize}")
    return np.frombuffer(raw, dtype=dt, count=count, offset=offset).reshape(tuple(dims))


def _missing_message(root: Path, missing: list[str]) -> str:
    return (
        f"Fashion-MNIST not found in {root} (missing: {', '.join(missing)}). Install it with "
        "`sudo apt-get install dataset-fashion-mnist` (or run scripts/setup.sh), or point "
        "MCUFORMER_FMNIST_DIR / --data-dir at a folder holding the four IDX .gz files."
    )


def load_fashion_mnist(root: str | Path | None = None, val_size: int = 5000, split_seed: int = 0) -> FMNIST:
    root = Path(root) if root is not None else DEFAULT_DIR
    missing = [n for pair in FILES.values() for n in pair if not (root / n).is_file()]
    if missing:
        raise DatasetMissing(_missing_message(root, missing))
    out = {}
    for split, (img_name, lab_name) in FILES.items():
        imgs, labs = read_idx(root / img_name), read_idx(root / lab_name)
        if imgs.ndim != 3 or labs.ndim != 1 or imgs.shape[0] != labs.shape[0]:
            raise ValueError(f"{root}: unexpected shapes {imgs.shape} / {labs.shape} for the {split} split")
        out[split] = Split(torch.from_numpy(imgs.copy()).unsqueeze(1), torch.from_numpy(labs.astype(np.int64)))
    train = out["train"]
    if not 0 <= val_size < len(train):
        raise ValueError(f"val_size {val_size} must be in [0, {len(train)})")
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(split_seed))
    val_idx, tr_idx = perm[:val_size], perm[val_size:]
    return FMNIST(
        train=Split(train.images[tr_idx], train.labels[tr_idx]),
        val=Split(train.images[val_idx], train.labels[val_idx]),
        test=out["test"],
    )


def normalize(images_u8: torch.Tensor) -> torch.Tensor:
    return (images_u8.float() / 255.0 - MEAN) / STD


def calibration_images(data: FMNIST, n: int = 128) -> list[torch.Tensor]:
    """The quantizer's calibration set: the first ``n`` training images, normalized, one [1, 1, 28, 28] each. The
    main job and the benchmarks both calibrate with it, so a network lowered by either is the same .pte."""
    x = normalize(data.train.images[:n])
    return [x[i:i + 1] for i in range(len(x))]


def _augment(x: torch.Tensor, gen: torch.Generator, pad: int) -> torch.Tensor:
    """Random crop (zero padding ``pad``) and horizontal flip of a uint8 batch, vectorized."""
    b, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    rows = (oy[:, None] + torch.arange(h))[:, None, :, None].expand(b, c, h, w)
    cols = (ox[:, None] + torch.arange(w))[:, None, None, :].expand(b, c, h, w)
    flip = torch.rand(b, generator=gen) < 0.5
    cols = torch.where(flip[:, None, None, None], cols.flip(-1), cols)
    bi = torch.arange(b)[:, None, None, None]
    ci = torch.arange(c)[None, :, None, None]
    return xp[bi, ci, rows, cols]


def batches(
    split: Split,
    batch_size: int,
    *,
    epoch: int = 0,
    seed: int = 0,
    shuffle: bool = True,
    augment: bool = False,
    pad: int = 2,
    rank: int = 0,
    world_size: int = 1,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalized float batches. With ``world_size > 1`` each rank gets its share of every global batch.

    ``batch_size`` is the global batch; a rank's batch is ``batch_size // world_size``. The order and the
    augmentation depend only on ``(seed, epoch)`` (and the rank for augmentation), never on earlier calls.
    """
    n = len(split)
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
    aug_gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch + 7919 * (rank + 1))
    per_rank = batch_size // world_size
    if per_rank < 1:
        raise ValueError(f"batch_size {batch_size} < world_size {world_size}")
    stop = (n // batch_size) * batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size][rank::world_size]
        if len(idx) == 0:
            continue
        x = split.images[idx]
        if augment:
            x = _augment(x, aug_gen, pad)
        yield normalize(x), split.labels[idx]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)
