"""Every command checks what it is given before it works on it: random bytes, a truncated real file, a .pte of another
backend (ExecuTorch's portable ops, XNNPACK), a delegate blob whose CRC fails, and run-mcu inputs of the wrong shape
or dtype each give exit status 1, exactly one line on stderr that names the file and the problem, and no file
written (the folder holds what it held before, temporary files included)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from mcuformer import cli

REPO = Path(__file__).resolve().parents[1]


class Bad(NamedTuple):
    path: Path
    says: str  # what the error line must say about it


@pytest.fixture(scope="session")
def files(mlp_pte, tmp_path_factory) -> dict[str, Path]:
    """The bad inputs, each a real file, made once: a .pte for every way one can be wrong, and good and bad inputs."""
    import torch
    from executorch.exir import to_edge, to_edge_transform_and_lower

    from mcuformer.nas.checkpoint import save_checkpoint
    from mcuformer.nas.space import FMNIST_SPACE
    from mcuformer.nas.vit import ViT

    d = tmp_path_factory.mktemp("bad")
    f = {"pte": mlp_pte.pte, "npy": mlp_pte.npy, "pt2": mlp_pte.pt2}
    rng = np.random.default_rng(13)
    f["random"] = d / "random.pte"
    f["random"].write_bytes(rng.bytes(5000))
    data = mlp_pte.pte.read_bytes()
    f["truncated"] = d / "truncated.pte"
    f["truncated"].write_bytes(data[:200])
    f["corrupt"] = d / "corrupt.pte"  # the last byte lies in the delegate blob (a segment at the end)
    f["corrupt"].write_bytes(data[:-1] + bytes([data[-1] ^ 0x5A]))

    ep = torch.export.load(str(mlp_pte.pt2))
    f["portable"] = d / "portable.pte"
    f["portable"].write_bytes(to_edge(ep).to_executorch().buffer)
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    f["xnnpack"] = d / "xnnpack.pte"
    f["xnnpack"].write_bytes(to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch().buffer)

    f["random_ckpt"] = d / "random.pt"
    f["random_ckpt"].write_bytes(rng.bytes(5000))
    f["random_pt2"] = d / "random.pt2"
    f["random_pt2"].write_bytes(rng.bytes(5000))
    f["truncated_pt2"] = d / "truncated.pt2"
    f["truncated_pt2"].write_bytes(mlp_pte.pt2.read_bytes()[:200])
    ckpt = d / "finetune.pt"
    arch = FMNIST_SPACE.smallest()
    save_checkpoint(ckpt, {"kind": "finetune", "meta": {"arch": arch.to_dict()}, "model": ViT(arch).state_dict()})
    f["ckpt"] = ckpt
    f["truncated_ckpt"] = d / "truncated.pt"
    f["truncated_ckpt"].write_bytes(ckpt.read_bytes()[:200])

    x = np.load(mlp_pte.npy)
    for name, arr in {"shape": np.zeros((1, 9), np.float32), "shape3": np.zeros((2, 3, 8), np.float32),
                      "empty": np.zeros((0, 8), np.float32), "float64": x.astype(np.float64),
                      "int8": x.astype(np.int8)}.items():
        f[name] = d / f"{name}.npy"
        np.save(f[name], arr)
    f["random_npy"] = d / "random.npy"
    f["random_npy"].write_bytes(rng.bytes(5000))
    f["truncated_npy"] = d / "truncated.npy"
    f["truncated_npy"].write_bytes(mlp_pte.npy.read_bytes()[:100])
    f["npz"] = d / "two.npz"
    np.savez(f["npz"], a=x, b=x)
    return f


BAD_PTES = {  # key in files -> what the line says
    "random": "is not an ExecuTorch program (.pte): no ET12 file identifier",
    "truncated": "is truncated: its header says",
    "corrupt": "MCUFormerBackend delegate 0: blob CRC mismatch",
    "portable": "holds no MCUFormerBackend delegate",
    "xnnpack": "holds no MCUFormerBackend delegate",
}
BAD_MODELS = {  # what `lower` and `export` take: a fine-tuned checkpoint (or, for lower, a .pt2)
    "random_ckpt": "is not a fine-tuned MCUFormer checkpoint",
    "truncated_ckpt": "corrupt or truncated",
    "random": "is not a fine-tuned MCUFormer checkpoint",  # named .pte, but its bytes decide, not its name
    "portable": "is an ExecuTorch program (.pte), already lowered",
    "truncated": "is an ExecuTorch program (.pte), already lowered",
}
BAD_INPUTS = {  # run-mcu --input, with a good .pte
    "shape": "has shape (1, 9), the model takes (1, 8) (one sample) or [N, 8]",
    "shape3": "has shape (2, 3, 8), the model takes (1, 8)",
    "empty": "has shape (0, 8), the model takes (1, 8)",
    "float64": "is float64, the model takes float32",
    "int8": "is int8, the model takes float32",
    "random_npy": "is not a .npy array",
    "truncated_npy": "is not a .npy array",
    "npz": "is an .npz archive",
}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _fails_cleanly(argv: list[str], says: str, bad: Path, work: Path, capsys) -> None:
    """Runs the command in `work`; exit 1, one stderr line naming `bad` and saying `says`, `work` unchanged."""
    capsys.readouterr()
    before = _tree(work)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        rc = cli.main(argv)
    finally:
        os.chdir(cwd)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert rc == cli.EXIT_USER, captured.err
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("mcuformer: error: ") and says in lines[0], lines[0]
    assert str(bad) in lines[0], lines[0]
    assert _tree(work) == before, "something was written"


@pytest.mark.parametrize("kind", list(BAD_PTES))
@pytest.mark.parametrize("cmd", [
    ["memory", "{pte}", "--json", "m.json", "--png", "m.png"],
    ["build", "{pte}", "-o", "fw.elf"],
    ["run-mcu", "{pte}", "--input", "{npy}", "--output", "y.npy", "--json", "s.json"],
    ["memory", "--json", "m.json", "{pte}"],  # an option's value before the .pte is not taken for it
    ["run-mcu", "--board", "stm32f746", "--json", "s.json", "{pte}", "--input", "{npy}"],
], ids=["memory", "build", "run-mcu", "memory-options-first", "run-mcu-options-first"])
def test_commands_reject_a_bad_pte(cmd, kind, files, tmp_path, capsys):
    bad = files[kind]
    _fails_cleanly([c.format(pte=bad, npy=files["npy"]) for c in cmd], BAD_PTES[kind], bad, tmp_path, capsys)


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_run_mcu_rejects_a_bad_input(kind, files, tmp_path, capsys):
    bad = files[kind]
    _fails_cleanly(["run-mcu", str(files["pte"]), "--input", str(bad), "--output", "y.npy", "--json", "s.json"],
                   BAD_INPUTS[kind], bad, tmp_path, capsys)


@pytest.mark.parametrize("kind", list(BAD_MODELS))
@pytest.mark.parametrize("cmd", [["lower", "{m}", "-o", "x.pte"], ["export", "{m}", "-o", "x.pt2"]],
                         ids=["lower", "export"])
def test_lower_and_export_reject_a_bad_model(cmd, kind, files, tmp_path, capsys):
    bad = files[kind]
    _fails_cleanly([c.format(m=bad) for c in cmd], BAD_MODELS[kind], bad, tmp_path, capsys)


@pytest.mark.parametrize("kind,says", [("random_pt2", "is not a torch.export program (.pt2)"),
                                       ("truncated_pt2", "is not a torch.export program (.pt2)")])
def test_lower_rejects_a_bad_pt2(kind, says, files, tmp_path, capsys):
    _fails_cleanly(["lower", str(files[kind]), "-o", "x.pte"], says, files[kind], tmp_path, capsys)


def test_export_rejects_a_pt2(files, tmp_path, capsys):
    _fails_cleanly(["export", str(files["pt2"]), "-o", "x.pt2"], "is already a torch.export program",
                   files["pt2"], tmp_path, capsys)


def test_export_of_a_good_checkpoint_writes_the_pt2(files, tmp_path, capsys):
    """The same command and checks pass a real checkpoint (so the rejections above are about the files)."""
    assert cli.main(["export", str(files["ckpt"]), "-o", str(tmp_path / "x.pt2")]) == 0
    assert (tmp_path / "x.pt2").stat().st_size > 1000


@pytest.mark.parametrize("kind", ["random", "truncated"])
def test_report_rejects_a_bad_summary(kind, synthetic_summary, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    synthetic_summary.save(out / "summary.json")
    text = (out / "summary.json").read_bytes()
    bad = out / "summary.json"
    bad.write_bytes(np.random.default_rng(1).bytes(5000) if kind == "random" else text[:200])
    _fails_cleanly(["report", "--out", str(out)], "is not a summary written by `mcuformer run`", bad, tmp_path,
                   capsys)


@pytest.mark.parametrize("kind", list(BAD_PTES))
def test_report_rejects_the_bad_pte_its_summary_names(kind, synthetic_summary, files, tmp_path, capsys):
    out = tmp_path / "out"
    synthetic_summary.paths["pte"] = str(files[kind])
    synthetic_summary.save(out / "summary.json")
    _fails_cleanly(["report", "--out", str(out)], BAD_PTES[kind], files[kind], tmp_path, capsys)


def test_report_rejects_a_bad_search_result(synthetic_summary, tmp_path, capsys):
    out = tmp_path / "out"
    bad = Path(synthetic_summary.paths["search"])
    bad.write_bytes(b"{not json")
    synthetic_summary.save(out / "summary.json")
    _fails_cleanly(["report", "--out", str(out)], "is not a search result", bad, tmp_path, capsys)


def test_the_console_shows_one_line(files, tmp_path):
    """From a shell: the one error line and nothing else (no traceback, no third-party import noise)."""
    r = subprocess.run([sys.executable, "-m", "mcuformer.cli", "memory", str(files["portable"])],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"mcuformer: error: {str(files['portable'])!r} holds no MCUFormerBackend delegate (a .pte of another "
        "backend, or not lowered): lower the model with `mcuformer lower`"], r.stderr
    assert list(tmp_path.iterdir()) == []
