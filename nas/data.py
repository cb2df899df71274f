"""Image data sets as in-memory uint8 tensors, with a fixed search-validation split: Fashion-MNIST (the default,
from its IDX ``.gz`` files) or the user's own (``load_data``: an image folder or an ``.npz``).

    data = load_data()                         # Fashion-MNIST: Dataset(train, val, test); uint8 N x 1 x 28 x 28
    data = load_data("my_images/", img_size=32)  # one subfolder per class; PNG/JPEG, resized to 32 x 32
    for x, y in batches(data.train, 128, epoch=0, seed=0, augment=True): ...

``train`` is the training set minus the images held out (fixed by ``split_seed``) for the search (``val``);
``test`` is the official test set (or, for a user's data set without one, a held-out share), for final reporting
only. Each split carries the training set's pixel mean and standard deviation, which ``normalize`` applies. Batching, shuffling and augmentation (random crop
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
    "Dataset",
    "FMNIST",
    "DataError",
    "DatasetMissing",
    "load_data",
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
    images: torch.Tensor  # uint8, N x C x H x W
    labels: torch.Tensor  # int64, N
    mean: float = MEAN  # the training set's pixel statistics in [0, 1], applied by normalize()
    std: float = STD

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def take(self, idx: torch.Tensor) -> "Split":
        return Split(self.images[idx], self.labels[idx], self.mean, self.std)

    def subset(self, n: int | None) -> "Split":
        return self if n is None or n >= len(self) else self.take(torch.arange(n))

    def normalized(self, images_u8: torch.Tensor | None = None) -> torch.Tensor:
        return normalize(self.images if images_u8 is None else images_u8, self.mean, self.std)


@dataclass(frozen=True)
class Dataset:
    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...] = tuple(str(i) for i in range(10))
    source: str = "fashion-mnist"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of every image."""
        return tuple(self.train.images.shape[1:])


FMNIST = Dataset  # the type's older name


class DataError(ValueError):
    """A data set the user pointed at cannot be used; the message is one line that says why."""


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
    val, train = _hold_out(train, val_size, split_seed)
    return Dataset(train=train, val=val, test=out["test"])


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_data(path: str | Path | None = None, *, img_size: int | None = None, val_fraction: float = 0.1,
              test_fraction: float = 0.15, split_seed: int = 0) -> Dataset:
    """Fashion-MNIST (``path`` None, or a folder of its four IDX files), or the user's own data set:

    * an image folder: one subfolder per class (its name is the class name) of PNG/JPEG files, or ``train/`` and
      ``test/`` folders laid out that way;
    * an ``.npz`` with ``x`` (uint8, N x H x W, N x H x W x C or N x C x H x W, C in 1, 3) and ``y`` (integer labels),
      optionally ``x_test`` / ``y_test``.

    Image size, channels and classes come from the data; ``img_size`` resizes every image to a square. Without a
    test set, ``test_fraction`` of the images is held out for it; ``val_fraction`` of the rest is the search's
    validation split. Anything unusable raises ``DataError`` with a one-line reason.
    """
    if path is None:
        return load_fashion_mnist()
    root = Path(path)
    if not root.exists():
        if root.suffix:
            raise DataError(f"{root}: no such file or folder")
        return load_fashion_mnist(root, split_seed=split_seed)  # says how to install Fashion-MNIST
    if root.is_dir() and all((root / n).is_file() for pair in FILES.values() for n in pair):
        if img_size not in (None, 28):
            raise DataError("--img-size applies to an image folder or an .npz, not to Fashion-MNIST's IDX files")
        return load_fashion_mnist(root, split_seed=split_seed)
    if root.is_file() and root.suffix == ".npz":
        parts = _read_npz(root)
    elif root.is_dir():
        parts = _read_folder(root, img_size)
    else:
        raise DataError(f"{root}: neither an image folder (one subfolder per class) nor an .npz file")
    (x, y), test, classes = parts
    if img_size is not None and root.suffix == ".npz":
        x, test = _resize(x, img_size), (None if test is None else (_resize(test[0], img_size), test[1]))
    return _assemble(root, x, y, test, classes, val_fraction, test_fraction, split_seed)


def _assemble(root, x, y, test, classes, val_fraction, test_fraction, seed) -> Dataset:
    if len(classes) < 2:
        raise DataError(f"{root}: a single class ({classes[0] if classes else 'none'}); a classifier needs two or more")
    images, labels = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64))
    full = Split(images, labels)
    if test is None:
        n_test = max(1, int(round(test_fraction * len(full))))
        test_split, full = _hold_out(full, n_test, seed)
    else:
        if test[0].shape[1:] != x.shape[1:]:
            raise DataError(f"{root}: test images are {tuple(test[0].shape[1:])} (C x H x W), training images "
                            f"{tuple(x.shape[1:])}")
        test_split = Split(torch.from_numpy(np.ascontiguousarray(test[0])), torch.from_numpy(test[1].astype(np.int64)))
    n_val = max(1, int(round(val_fraction * len(full))))
    if len(full) - n_val < 2:
        raise DataError(f"{root}: {len(full)} training images are too few to hold out a validation split")
    val, train = _hold_out(full, n_val, seed + 1)
    pixels = train.images.float() / 255.0
    mean, std = float(pixels.mean()), max(float(pixels.std()), 1e-3)
    stats = lambda s: Split(s.images, s.labels, mean, std)  # noqa: E731
    return Dataset(stats(train), stats(val), stats(test_split), tuple(classes), source=str(root))


def _label_values(root: Path, y: np.ndarray, what: str) -> np.ndarray:
    """The sorted distinct labels; class i of the data set is the i-th of them."""
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{root}: {what} must be a 1-d array of integer labels, not {y.dtype} {tuple(y.shape)}")
    return np.unique(y)


def _nchw(root: Path, x: np.ndarray, what: str) -> np.ndarray:
    if x.dtype != np.uint8:
        raise DataError(f"{root}: {what} must be uint8 pixels (0-255), not {x.dtype}")
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3):
        return x.transpose(0, 3, 1, 2)
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return x
    raise DataError(f"{root}: {what} has shape {tuple(x.shape)}; expected N x H x W, N x H x W x C or N x C x H x W "
                    "with C = 1 or 3")


def _read_npz(root: Path):
    try:
        with np.load(root, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{root}: not a readable .npz ({e})") from None
    for k in ("x", "y"):
        if k not in arrays:
            raise DataError(f"{root}: no array '{k}' (found: {', '.join(sorted(arrays)) or 'none'})")
    x = _nchw(root, arrays["x"], "x")
    if len(x) != len(arrays["y"]):
        raise DataError(f"{root}: {len(x)} images in x but {len(arrays['y'])} labels in y")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{root}: x_test and y_test come together")
    values = _label_values(root, arrays["y"], "y")
    y, classes = np.searchsorted(values, arrays["y"]), [str(v) for v in values]
    test = None
    if "x_test" in arrays:
        xt, yt = _nchw(root, arrays["x_test"], "x_test"), arrays["y_test"]
        _label_values(root, yt, "y_test")
        if len(xt) != len(yt) or not np.isin(yt, values).all():
            raise DataError(f"{root}: y_test must label every x_test image with a class seen in y")
        test = (xt, np.searchsorted(values, yt))
    return (x, y), test, classes


def _read_images(root: Path, folder: Path, classes: list[str], img_size: int | None):
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415 (Pillow comes with matplotlib)

    files = [(f, i) for i, c in enumerate(classes) for f in sorted((folder / c).iterdir())
             if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"{folder}: no PNG/JPEG images in its class folders")
    pics = []
    for f, _ in files:
        try:
            with Image.open(f) as im:
                im.load()
                pics.append(im.convert("L" if im.mode in ("1", "L", "I;16", "I") else "RGB"))
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"{f}: not a readable image ({e.__class__.__name__})") from None
    mode = "RGB" if any(p.mode == "RGB" for p in pics) else "L"
    sizes = {p.size for p in pics}
    if img_size is None and len(sizes) > 1:
        raise DataError(f"{root}: images of {len(sizes)} different sizes (e.g. {' and '.join(f'{w}x{h}' for w, h in sorted(sizes)[:2])}); "
                        "pass --img-size N to resize them all to N x N")
    out = []
    for p in pics:
        p = p.convert(mode)
        if img_size is not None and p.size != (img_size, img_size):
            p = p.resize((img_size, img_size), Image.BILINEAR)
        out.append(np.asarray(p, dtype=np.uint8))
    return _nchw(root, np.stack(out), "images"), np.array([i for _, i in files], dtype=np.int64)


def _read_folder(root: Path, img_size: int | None):
    split_dirs = (root / "train").is_dir() and (root / "test").is_dir()
    train_dir = root / "train" if split_dirs else root
    classes = sorted(d.name for d in train_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DataError(f"{train_dir}: empty (expected one subfolder of images per class)")
    if len(classes) < 2:
        raise DataError(f"{train_dir}: a single class ({classes[0]}); a classifier needs two or more")
    x, y = _read_images(root, train_dir, classes, img_size)
    test = None
    if split_dirs:
        missing = [c for c in sorted(d.name for d in (root / "test").iterdir() if d.is_dir()) if c not in classes]
        if missing:
            raise DataError(f"{root / 'test'}: class folder(s) {', '.join(missing)} not in {train_dir}")
        present = [c for c in classes if (root / "test" / c).is_dir()]
        xt, yt = _read_images(root, root / "test", present, img_size)
        test = (xt, np.array([classes.index(present[i]) for i in yt], dtype=np.int64))
    return (x, y), test, classes


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    t = F.interpolate(torch.from_numpy(x).float(), size=(size, size), mode="bilinear", align_corners=False)
    return t.round().clamp(0, 255).to(torch.uint8).numpy()


def _hold_out(split: Split, n: int, seed: int) -> tuple[Split, Split]:
    """(n images drawn by ``seed``, the rest)."""
    perm = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    return split.take(perm[:n]), split.take(perm[n:])


def normalize(images_u8: torch.Tensor, mean: float = MEAN, std: float = STD) -> torch.Tensor:
    return (images_u8.float() / 255.0 - mean) / std


def calibration_images(data: FMNIST, n: int = 128) -> list[torch.Tensor]:
    """The quantizer's calibration set: the first ``n`` training images, normalized, one [1, C, H, W] each. The
    main job and the benchmarks both calibrate with it, so a network lowered by either is the same .pte."""
    x = data.train.subset(n).normalized()
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
        yield split.normalized(x), split.labels[idx]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)
