"""examples/executorch_cm7/pte_sizes.py: the memory a .pte needs on ExecuTorch's runtime, read from the file. The
arena is checked against the C++ loader's reading of the blob, the planned buffer against the method's I/O tensors
as ExecuTorch's runtime describes them; the one-liners print exactly what a build consumes; bad input is one line."""
from __future__ import annotations

import ctypes
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "executorch_cm7" / "pte_sizes.py"


def _module():
    spec = importlib.util.spec_from_file_location("pte_sizes", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    from test_runtime_support import tiny_vit

    _, pte, blob = tiny_vit()
    path = tmp_path_factory.mktemp("sizes") / "vit.pte"
    path.write_bytes(pte)
    return path, pte, blob


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))


def test_arena_is_the_loaders(vit):
    from mcuformer.backend import load_runtime

    _, pte, blob = vit
    lib = load_runtime()
    arena, n_in, n_out = ctypes.c_uint32(), ctypes.c_int32(), ctypes.c_int32()
    assert lib.mcuformer_host_inspect(blob, len(blob), ctypes.byref(arena), ctypes.byref(n_in),
                                      ctypes.byref(n_out)) == 0
    s = _module().sizes(pte)
    assert s["arena_bytes"] == arena.value > 0


def test_planned_buffer_holds_the_methods_io(vit):
    from executorch.runtime import Runtime

    _, pte, _ = vit
    meta = Runtime.get().load_program(pte).metadata("forward")
    io = meta.input_tensor_meta(0).nbytes() + meta.output_tensor_meta(0).nbytes()
    s = _module().sizes(pte)
    assert len(s["planned_buffers"]) == 1
    assert io <= s["planned_buffers"][0] < io + 256  # input and output, each aligned


def test_static_arena_leaves_the_arena_out_of_the_pool(vit):
    _, pte, _ = vit
    mod = _module()
    pooled, static = mod.sizes(pte), mod.sizes(pte, static_arena=True)
    assert pooled["method_pool_bytes"] - static["method_pool_bytes"] >= pooled["arena_bytes"]


def test_one_liners(vit, tmp_path):
    path, pte, _ = vit
    arena = _module().sizes(pte)["arena_bytes"]
    r = _run(str(path), "--arena")
    assert r.returncode == 0 and r.stdout == f"{arena}\n"
    r = _run(str(path), "--cmake")
    assert r.returncode == 0 and r.stdout == f"-DMCUFORMER_STATIC_ARENA_BYTES={arena}\n"
    out = tmp_path / "et_sizes.h"
    assert _run(str(path), "-o", str(out)).returncode == 0
    text = out.read_text()
    assert f"#define MCUFORMER_PTE_ARENA_BYTES {arena}u" in text and "#define ET_METHOD_POOL_BYTES " in text


@pytest.mark.parametrize("case", ["random", "truncated", "missing"])
def test_bad_input_is_one_line(vit, tmp_path, case):
    path, pte, _ = vit
    bad = tmp_path / "bad.pte"
    if case == "random":
        bad.write_bytes(os.urandom(5000))
    elif case == "truncated":
        bad.write_bytes(pte[:200])
    r = _run(str(bad), "--arena")
    assert r.returncode == 1 and r.stdout == ""
    assert "Traceback" not in r.stderr
    ours = [line for line in r.stderr.splitlines() if line.startswith("pte_sizes: ")]  # torchao's import lines aside
    assert len(ours) == 1 and ours[0].startswith(f"pte_sizes: {bad}: "), r.stderr
