"""Training: exact resume after a run killed mid-epoch, clear errors for damaged checkpoints, DDP on 2 CPUs."""

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mcuformer.nas.checkpoint import CheckpointError, load_checkpoint
from mcuformer.nas.data import DatasetMissing, load_fashion_mnist, read_idx
from mcuformer.nas.space import SearchSpace
from mcuformer.nas.train import TrainConfig, _synthetic, finetune, load_supernet, train_supernet

TINY = SearchSpace(name="tiny-train", img_size=12, in_chans=1, num_classes=4, head_dim=4, patch_sizes=(6, 4),
                   embed_dims=(8, 12), depths=(1, 2), num_heads=(1, 2), mlp_ratios=(1.0, 2.0),
                   rank_ratios=(0.5, 1.0))
CFG = TrainConfig(epochs=3, batch_size=16, warmup_steps=2, num_random=1, eval_size=16, device="cpu")


class Killed(Exception):
    pass


def _kill_at(epoch, step):
    def hook(e, s):
        if (e, s) == (epoch, step):
            raise Killed()

    return hook


def _state(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.fixture(scope="module")
def data():
    return _synthetic(64, TINY)


def test_supernet_resume_after_kill_is_identical(tmp_path, data):
    ref = train_supernet(TINY, CFG, tmp_path / "ref", data=data, progress=False)
    with pytest.raises(Killed):
        train_supernet(TINY, CFG, tmp_path / "run", data=data, progress=False, step_hook=_kill_at(1, 2))
    assert load_checkpoint(tmp_path / "run" / "supernet.pt")["epoch"] == 1  # lost at most the current epoch
    torch.manual_seed(1234)  # the resumed run must not depend on the caller's RNG either
    resumed = train_supernet(TINY, CFG, tmp_path / "run", data=data, progress=False)
    for k, v in _state(ref).items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    a = load_checkpoint(tmp_path / "ref" / "supernet.pt")
    b = load_checkpoint(tmp_path / "run" / "supernet.pt")
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in a["history"]] == \
           [{k: v for k, v in r.items() if k != "seconds"} for r in b["history"]]
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    for k, v in load_supernet(tmp_path / "run").state_dict().items():
        assert torch.equal(v, ref.state_dict()[k])


def test_finetune_resume_after_kill_is_identical(tmp_path, data):
    arch = TINY.largest()
    cfg = TrainConfig(epochs=2, batch_size=16, warmup_steps=2, eval_size=16, device="cpu")
    ref = finetune(arch, cfg, tmp_path / "ref", data=data, progress=False)
    with pytest.raises(Killed):
        finetune(arch, cfg, tmp_path / "run", data=data, progress=False, step_hook=_kill_at(1, 1))
    resumed = finetune(arch, cfg, tmp_path / "run", data=data, progress=False)
    for k, v in ref.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_truncated_or_corrupt_checkpoint_gives_a_clear_error(tmp_path, data):
    cfg = TrainConfig(epochs=1, batch_size=16, warmup_steps=2, num_random=1, eval_size=16, device="cpu")
    train_supernet(TINY, cfg, tmp_path, data=data, progress=False)
    ck = tmp_path / "supernet.pt"
    raw = ck.read_bytes()
    ck.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match=r"supernet\.pt is corrupt or truncated"):
        train_supernet(TINY, cfg.__class__(**{**cfg.to_dict(), "epochs": 2}), tmp_path, data=data, progress=False)
    ck.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match=str(ck)):
        load_supernet(ck)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries behind


def test_checkpoint_of_another_run_is_refused(tmp_path, data):
    cfg = TrainConfig(epochs=1, batch_size=16, warmup_steps=2, eval_size=16, device="cpu")
    finetune(TINY.largest(), cfg, tmp_path, data=data, progress=False)
    with pytest.raises(CheckpointError, match="another run"):
        finetune(TINY.smallest(), cfg, tmp_path, data=data, progress=False)


def _write_idx(path, arr):
    arr = np.asarray(arr)
    code = {np.dtype(np.uint8): 0x08}[arr.dtype]
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


def test_data_reader_split_and_missing_message(tmp_path):
    with pytest.raises(DatasetMissing, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 50), ("t10k", 20)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,), dtype=np.uint8))
    d = load_fashion_mnist(tmp_path, val_size=10)
    assert (len(d.train), len(d.val), len(d.test)) == (40, 10, 20)
    assert d.train.images.shape == (40, 1, 28, 28) and d.train.images.dtype == torch.uint8
    assert read_idx(tmp_path / "t10k-labels-idx1-ubyte.gz").shape == (20,)
    raw = gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz").read()
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(raw[:100])
    with pytest.raises(ValueError, match="truncated"):
        load_fashion_mnist(tmp_path, val_size=10)


@pytest.mark.skipif(shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None,
                    reason="torchrun not installed next to python")
def test_ddp_two_cpu_processes_match_single_process(tmp_path):
    """torchrun --nproc_per_node 2 (gloo) runs a tiny supernet epoch; the result equals one process's run
    (same global batch), up to float reduction order."""
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    args = ["-m", "mcuformer.nas.train", "--synthetic", "32", "--space", "fmnist-28", "--patches", "7",
            "--epochs", "1", "--batch-size", "16", "--eval-size", "8", "--device", "cpu", "--no-resume"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    two = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", *args, "--out",
                          str(tmp_path / "ddp"), "--result-json", str(tmp_path / "ddp.json")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([sys.executable, *args, "--out", str(tmp_path / "one"), "--result-json",
                          str(tmp_path / "one.json")], capture_output=True, text=True, timeout=300, env=env)
    assert one.returncode == 0, one.stderr[-3000:]
    r2, r1 = json.loads((tmp_path / "ddp.json").read_text()), json.loads((tmp_path / "one.json").read_text())
    assert r2["world_size"] == 2 and r1["world_size"] == 1
    a, b = load_supernet(tmp_path / "ddp"), load_supernet(tmp_path / "one")
    for k, v in a.state_dict().items():
        torch.testing.assert_close(v, b.state_dict()[k], rtol=1e-3, atol=1e-4, msg=k)
