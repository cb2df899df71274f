"""The user's own data sets (`nas.data.load_data`): image folders and .npz files, and each one-line error."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mcuformer.nas.data import DataError, batches, calibration_images, load_data


def _folder(root, classes=("cat", "dog", "owl"), per_class=12, size=(20, 16), mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / c / f"{i}.png")
    return root


def test_image_folder_shape_channels_classes_and_splits(tmp_path):
    data = load_data(_folder(tmp_path / "d"), split_seed=3)
    assert data.image_shape == (3, 16, 20)
    assert data.classes == ("cat", "dog", "owl")
    n = len(data.train) + len(data.val) + len(data.test)
    assert n == 36 and len(data.test) == round(0.15 * 36) and len(data.val) >= 1
    assert set(data.train.labels.tolist()) <= {0, 1, 2}
    # The splits are disjoint: every image lands in exactly one (images are random, so they identify themselves).
    flat = lambda s: {bytes(im.numpy().tobytes()) for im in s.images}  # noqa: E731
    assert not (flat(data.train) & flat(data.val)) and not (flat(data.train) & flat(data.test))
    # Normalization uses the training split's own statistics.
    x, _ = next(batches(data.train, 64, shuffle=False))
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-2
    assert calibration_images(data, 4)[0].shape == (1, 3, 16, 20)


def test_image_folder_grayscale_and_resize(tmp_path):
    root = _folder(tmp_path / "g", classes=("a", "b"), mode="L", size=(9, 9))
    Image.fromarray(np.zeros((5, 7), np.uint8), "L").save(root / "a" / "odd.png")
    with pytest.raises(DataError, match="different sizes.*--img-size"):
        load_data(root)
    data = load_data(root, img_size=12)
    assert data.image_shape == (1, 12, 12)


def test_image_folder_with_train_and_test(tmp_path):
    _folder(tmp_path / "s" / "train", classes=("x", "y"))
    _folder(tmp_path / "s" / "test", classes=("y",), per_class=5, seed=1)
    data = load_data(tmp_path / "s")
    assert len(data.test) == 5 and set(data.test.labels.tolist()) == {1}
    assert len(data.train) + len(data.val) == 24


@pytest.mark.parametrize("layout", ["nhw", "nhwc", "nchw"])
def test_npz_layouts_and_given_test_set(tmp_path, layout):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 10, 10), dtype=np.uint8)
    c = 1
    if layout == "nhwc":
        x, c = np.repeat(x[..., None], 3, -1), 3
    elif layout == "nchw":
        x, c = np.repeat(x[:, None], 3, 1), 3
    y = np.tile([7, 3], 20)  # labels need not be 0..K-1: class i is the i-th distinct label
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=x[:6], y_test=y[:6])
    data = load_data(tmp_path / "d.npz")
    assert data.image_shape == (c, 10, 10) and data.classes == ("3", "7")
    assert data.test.labels.tolist() == [1, 0] * 3
    assert len(data.train) + len(data.val) == 40
    assert load_data(tmp_path / "d.npz", img_size=6).image_shape == (c, 6, 6)


def _unreadable(tmp_path):
    root = _folder(tmp_path / "u", classes=("a", "b"), per_class=3)
    (root / "b" / "broken.png").write_bytes(b"not a png at all")
    return root


@pytest.mark.parametrize("make, message", [
    (lambda t: (t / "empty").mkdir() or t / "empty", r"empty \(expected one subfolder of images per class\)"),
    (lambda t: _folder(t / "one", classes=("only",)), "a single class"),
    (_unreadable, r"broken\.png: not a readable image"),
    (lambda t: t / "nowhere.npz", "no such file or folder"),
    (lambda t: (t / "x.npz").write_bytes(b"garbage") and t / "x.npz", "not a readable .npz"),
    (lambda t: np.savez(t / "f.npz", x=np.zeros((4, 5, 5), np.float32), y=np.arange(4)) or t / "f.npz",
     "must be uint8 pixels"),
    (lambda t: np.savez(t / "n.npz", x=np.zeros((4, 5, 5), np.uint8)) or t / "n.npz", "no array 'y'"),
    (lambda t: np.savez(t / "s.npz", x=np.zeros((4, 5, 5), np.uint8), y=np.zeros(4, int)) or t / "s.npz",
     "a single class"),
])
def test_one_line_errors(tmp_path, make, message):
    with pytest.raises(DataError, match=message) as e:
        load_data(make(tmp_path))
    assert "\n" not in str(e.value)


def _learnable_folder(root, n_per_class=40, size=16):
    """Three classes a tiny ViT can tell apart: a bright red, green or blue square at a random place."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(("red", "green", "blue")):
        (root / name).mkdir(parents=True)
        for i in range(n_per_class):
            im = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            y, x = rng.integers(0, size - 6, 2)
            im[y:y + 6, x:x + 6, c] = 255
            Image.fromarray(im, "RGB").save(root / name / f"{i}.png")
    return root


def test_run_on_a_generated_image_folder_end_to_end(tmp_path, monkeypatch):
    """`mcuformer run --data DIR`: search -> fine-tune -> .pte -> firmware in QEMU on the user's own images."""
    import json

    from mcuformer import cli
    from tests.test_main_job import TINY

    monkeypatch.setattr(cli, "_preset", lambda name, threads: TINY)
    data_dir, out = _learnable_folder(tmp_path / "colours"), tmp_path / "out"
    assert cli.main(["run", "--data", str(data_dir), "--out", str(out), "--images", "18", "--chunk", "18",
                     "--calibration", "8"]) == 0
    s = json.loads((out / "summary.json").read_text())
    arch = s["arch"]
    assert (arch["img_size"], arch["in_chans"], arch["num_classes"]) == (16, 3, 3)
    assert s["test_images"] == 18 and s["mcu"]["images"] == 18  # held-out test share: round(0.15 * 120) = 18
    assert s["lower"]["undelegated"] == [] and s["memory"]["within_budget"]
    assert s["int8_top1"] is not None and 0.0 <= s["int8_top1"] <= 1.0
    assert s["instructions_per_inference"] > 0
