"""Fault cases (issue 7): each gives a clear error, never a crash, and loses or half-writes nothing.

Delegate faults, each through every layer that can meet it, on real lowered models (tests/fuzz/seeds.py) with the
blob edited in place (tests/fault_blobs.py) and spliced back into its .pte:
  - arena smaller than planned: C ABI (kArenaTooSmall, outputs untouched) and ExecuTorch (a host delegate with a
    static arena, like the firmware's, smaller than the blob's plan: DelegateMemoryAllocationFailed with both sizes);
  - input of the wrong dtype / shape / rank / count through ExecuTorch's runtime: an error, and the method still
    computes bit-exact results afterwards;
  - a .pte from another schema version: kVersionMismatch (C ABI), DelegateInvalidCompatibility (ExecuTorch),
    exit code 42 (the firmware's loader, host build);
  - a blob whose offsets point outside the arena: the semantic check rejects it in all three.
The ExecuTorch cases run in a child process with the delegate built with ASan + UBSan (so they are also the sanitizer
run of the ExecuTorch adapter), good models included (bit-exact with the numpy reference under the sanitizers).

Training faults live with the training tests (tests/test_nas_train.py): a run killed mid-epoch by a step hook resumes
to the same final state (test_supernet_resume_after_kill_is_identical, test_finetune_resume_after_kill_is_identical)
and a truncated or corrupt checkpoint is a CheckpointError naming the file
(test_truncated_or_corrupt_checkpoint_gives_a_clear_error). Here: what a full disk does to each product writer.

Full disk: a child process with RLIMIT_FSIZE below the new file's size (write() fails with EFBIG, SIGXFSZ ignored)
runs each writer of outputs: the atomic helpers (mcuformer/io.py), checkpoints (nas/checkpoint.py), search results
(nas/pipeline.py), run-mcu's .npy and JSON, the memory report's JSON. The previous file must be intact and no
temporary file left behind.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fault_blobs as fb
from sanitizer_builds import asan_env, asan_host_library, sanitizer_errors, seed_static_arena

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "fuzz"))
import driver  # noqa: E402  (seeds: real .pte files and blobs, cached under build/fuzz)

OK, INVALID_BLOB, VERSION_MISMATCH, ARENA_TOO_SMALL = 0, 1, 2, 3


# ---------------------------------------------------------------------------------------------------------------
# Real models and their faulty variants
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{name: {"blob", "pte_inline", "pte_segment", "shape"}} plus faulty variants written to a temp folder."""
    seeds = driver.seed_dirs()
    out = tmp_path_factory.mktemp("faults")
    shapes = {"vit_cls": (1, 1, 8, 8), "vit_mean_overwrite": (1, 3, 8, 8)}
    m = {}
    for name, shape in shapes.items():
        blob = (seeds["blob"] / f"{name}.blob").read_bytes()
        m[name] = {"blob": blob, "shape": shape, "dir": out}
        for kind in ("inline", "segment"):
            m[name][f"pte_{kind}"] = (seeds["pte"] / f"{name}_{kind}.pte").read_bytes()
    return m


def _write(dirpath: Path, name: str, data: bytes) -> str:
    p = dirpath / name
    p.write_bytes(data)
    return str(p)


# ---------------------------------------------------------------------------------------------------------------
# C ABI (regular host build)
# ---------------------------------------------------------------------------------------------------------------
def _lib():
    from mcuformer.backend import load_runtime

    return load_runtime()


def _c_run(blob: bytes, arena: int, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> int:
    vp = ctypes.c_void_p
    ins = (vp * len(inputs))(*[x.ctypes.data for x in inputs])
    in_n = (ctypes.c_size_t * len(inputs))(*[x.nbytes for x in inputs])
    outs = (vp * len(outputs))(*[y.ctypes.data for y in outputs])
    out_n = (ctypes.c_size_t * len(outputs))(*[y.nbytes for y in outputs])
    return _lib().mcuformer_host_run_arena(blob, len(blob), arena, len(inputs), ins, in_n, len(outputs), outs, out_n)


def _c_load_status(blob: bytes) -> tuple[int, str]:
    lib = _lib()
    arena = ctypes.c_uint32()
    s = lib.mcuformer_host_inspect(blob, len(blob), ctypes.byref(arena), None, None)
    return s, lib.mcuformer_host_status_str(s).decode()


@pytest.mark.parametrize("name", ["vit_cls", "vit_mean_overwrite"])
def test_c_abi_arena_smaller_than_planned(models, name):
    """One byte short of the plan: kArenaTooSmall before anything runs; the caller's output stays as it was."""
    blob, shape = models[name]["blob"], models[name]["shape"]
    planned = fb.arena_bytes(blob)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    y = np.full(3, 12345.0, np.float32)
    for arena in (planned - 1, planned // 2, 0):
        x_before = x.copy()
        assert _c_run(blob, arena, [x], [y]) == ARENA_TOO_SMALL
        assert _lib().mcuformer_host_status_str(ARENA_TOO_SMALL) == b"arena too small"
        assert np.all(y == 12345.0), "a refused run wrote the output"
        assert np.array_equal(x, x_before), "a refused run wrote the input (input_overwrite models may, when run)"
    assert _c_run(blob, planned, [x], [y]) == OK  # exactly the plan is enough (guard bytes checked by the host ABI)
    assert not np.all(y == 12345.0)


def test_c_abi_other_schema_version_and_offset_outside(models):
    blob = models["vit_cls"]["blob"]
    assert _c_load_status(blob) == (OK, "ok")
    assert _c_load_status(fb.other_version(blob)) == (VERSION_MISMATCH, "blob schema version mismatch")
    assert _c_load_status(fb.other_version(blob, 0)) == (VERSION_MISMATCH, "blob schema version mismatch")
    bad, tensor = fb.offset_outside(blob)
    assert _c_load_status(bad) == (INVALID_BLOB, "invalid blob"), tensor
    y = np.full(3, 7.0, np.float32)
    assert _c_run(bad, 1 << 16, [np.zeros((1, 1, 8, 8), np.float32)], [y]) == INVALID_BLOB
    assert np.all(y == 7.0)


# ---------------------------------------------------------------------------------------------------------------
# The firmware's .pte loader + runtime (host build of the same sources, pte_info)
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["inline", "segment"])
def test_firmware_loader_rejects_other_version_and_offset_outside(models, kind):
    from mcuformer import mcu

    m = models["vit_cls"]
    pte, blob = m[f"pte_{kind}"], m["blob"]
    good = mcu.pte_info(_write(m["dir"], f"good_{kind}.pte", pte), runtime="real")
    assert good["exit_code"] == 0 and good["arena_bytes"] == fb.arena_bytes(blob)
    ver = mcu.pte_info(_write(m["dir"], f"ver_{kind}.pte", fb.splice(pte, blob, fb.other_version(blob))),
                       runtime="real")
    assert ver["exit_code"] == 40 + VERSION_MISMATCH and ver["model_message"] == "blob schema version mismatch"
    assert mcu.describe_exit_code(ver["exit_code"]) == "model_load: version mismatch"
    off = mcu.pte_info(_write(m["dir"], f"off_{kind}.pte", fb.splice(pte, blob, fb.offset_outside(blob)[0])),
                       runtime="real")
    assert off["exit_code"] == 40 + INVALID_BLOB and off["model_message"] == "invalid blob"


# ---------------------------------------------------------------------------------------------------------------
# ExecuTorch's runtime with the delegate built with ASan + UBSan and a static arena (child process)
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def executorch_asan(models):
    """Runs every ExecuTorch case once in one sanitized child; returns ({case: result}, {case: its stderr lines})."""
    static = seed_static_arena()
    assert static == max(fb.arena_bytes(m["blob"]) for m in models.values())
    lib = asan_host_library(static)
    d = models["vit_cls"]["dir"]
    cases = []
    for name, m in models.items():
        for kind in ("inline", "segment"):
            cases.append({"name": f"{name}_{kind}", "pte": _write(d, f"{name}_{kind}.pte", m[f"pte_{kind}"]),
                          "blob": _write(d, f"{name}.blob", m["blob"]), "shape": m["shape"],
                          "bad_inputs": name == "vit_cls" and kind == "inline"})
    m = models["vit_cls"]
    faulty = {"arena_over_static": fb.with_arena_bytes(m["blob"], static + 16),
              "other_version": fb.other_version(m["blob"]),
              "offset_outside": fb.offset_outside(m["blob"])[0]}
    for case, blob in faulty.items():
        for kind in ("inline", "segment"):
            cases.append({"name": f"{case}_{kind}", "shape": m["shape"], "blob": _write(d, f"{case}.blob", blob),
                          "pte": _write(d, f"{case}_{kind}.pte", fb.splice(m[f"pte_{kind}"], m["blob"], blob))})
    spec = d / "cases.json"
    spec.write_text(json.dumps(cases))
    p = subprocess.run([sys.executable, str(REPO / "tests" / "faults_executorch_child.py"), str(lib), str(spec)],
                       capture_output=True, text=True, env=asan_env(), timeout=600, cwd=REPO)
    assert not sanitizer_errors(p.stderr), p.stderr[-8000:]
    assert p.returncode == 0, p.stderr[-8000:]
    results = {r["name"]: r for r in map(json.loads, p.stdout.strip().splitlines())}
    logs: dict[str, list[str]] = {}
    current = None
    for line in p.stderr.splitlines():
        if line.startswith("=== case "):
            current = line[len("=== case "):]
            logs[current] = []
        elif current is not None:
            logs[current].append(line)
    assert set(results) == {c["name"] for c in cases}
    return results, logs, static


@pytest.mark.parametrize("case", ["vit_cls_inline", "vit_cls_segment", "vit_mean_overwrite_inline",
                                  "vit_mean_overwrite_segment"])
def test_executorch_under_asan_runs_real_models_bit_exact(executorch_asan, case):
    results, _, _ = executorch_asan
    r = results[case]
    assert r["loaded"] and r["error"] is None, r
    assert r["outputs_bit_exact"] is True


@pytest.mark.parametrize("kind", ["inline", "segment"])
def test_executorch_arena_smaller_than_planned(executorch_asan, kind):
    results, logs, static = executorch_asan
    r = results[f"arena_over_static_{kind}"]
    assert not r["loaded"] and "Failed to load method forward" in r["error"] and "31" in r["error"], r
    log = "\n".join(logs[f"arena_over_static_{kind}"])
    assert f"blob needs an arena of {static + 16} bytes, the static arena has {static} " in log, log
    assert "(MCUFORMER_STATIC_ARENA_BYTES): 16 bytes missing" in log, log
    assert "Init failed for backend MCUFormerBackend: 0x31" in log  # DelegateMemoryAllocationFailed


@pytest.mark.parametrize("kind", ["inline", "segment"])
def test_executorch_other_schema_version(executorch_asan, kind):
    results, logs, _ = executorch_asan
    r = results[f"other_version_{kind}"]
    assert not r["loaded"] and "30" in r["error"], r
    log = "\n".join(logs[f"other_version_{kind}"])
    assert "rejected blob" in log and "blob schema version mismatch" in log, log
    assert "Init failed for backend MCUFormerBackend: 0x30" in log  # DelegateInvalidCompatibility


@pytest.mark.parametrize("kind", ["inline", "segment"])
def test_executorch_offset_outside(executorch_asan, kind):
    results, logs, _ = executorch_asan
    r = results[f"offset_outside_{kind}"]
    assert not r["loaded"] and "23" in r["error"], r
    log = "\n".join(logs[f"offset_outside_{kind}"])
    assert "rejected blob" in log and "invalid blob" in log, log
    assert "Init failed for backend MCUFormerBackend: 0x23" in log  # InvalidProgram


def test_executorch_wrong_dtype_shape_rank_count(executorch_asan):
    results, logs, _ = executorch_asan
    r = results["vit_cls_inline"]
    bad = r["bad_inputs"]
    assert set(bad) == {"shape", "rank", "dtype_int8", "dtype_float64", "count"}
    for name, err in bad.items():
        assert err != "no error" and err.startswith("RuntimeError"), (name, err)
    assert "0x10" in bad["shape"] and "0x10" in bad["rank"]          # NotSupported: static shapes
    assert "0x12" in bad["dtype_int8"] and "0x12" in bad["dtype_float64"]  # InvalidArgument
    assert "Attempted to resize a static tensor" in "\n".join(logs["vit_cls_inline/shape"])
    assert "tensor rank" in "\n".join(logs["vit_cls_inline/rank"])
    assert "expected Float but was Char" in "\n".join(logs["vit_cls_inline/dtype_int8"])
    assert r["outputs_bit_exact_after_bad_inputs"] is True  # nothing was corrupted by the refused calls


# ---------------------------------------------------------------------------------------------------------------
# On the device (QEMU): the arena canaries and the stack watermark are checked after every inference
# ---------------------------------------------------------------------------------------------------------------
# tests/test_firmware_qemu.py covers a write past the arena's end (code 71, test_arena_overrun_trips_canary), a stack
# that reaches its guard (72, test_stack_overuse_is_detected) and an arena smaller than the plan (60). Here: a write
# just below the arena's start, through the test-only stub runtime's fault injection.
@pytest.mark.filterwarnings("ignore::mcuformer.mcu.StubRuntimeWarning")
def test_device_arena_underrun_trips_canary_below():
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    sys.path.insert(0, str(REPO / "examples" / "stm32f746" / "tests"))
    from fixtures import fake_pte

    from mcuformer import mcu

    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    with pytest.raises(mcu.McuError) as e:
        mcu.run_mcu(fake_pte(overrun_bytes=-4), x, runtime="stub", profile=False)
    assert e.value.code == 70, e.value.log
    assert mcu.describe_exit_code(70) == "arena canary below the arena overwritten"
    assert '"canaries_ok":false' in e.value.log


# ---------------------------------------------------------------------------------------------------------------
# Full disk
# ---------------------------------------------------------------------------------------------------------------
LIMIT = 64 * 1024  # RLIMIT_FSIZE of the child: every new file below is larger


def _full_disk(code: str, cwd: Path) -> subprocess.CompletedProcess:
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of killing the child
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))

    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=cwd,
                          preexec_fn=limit, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)))


def _assert_intact(folder: Path, previous: dict[str, bytes], p: subprocess.CompletedProcess) -> None:
    assert p.returncode != 0, "the write was expected to fail:\n" + p.stdout + p.stderr
    # EFBIG surfaces as "File too large", or as numpy's short-write error ("N requested and M written")
    assert any(s in p.stderr for s in ("File too large", "OSError", "cannot write")), p.stderr[-4000:]
    for name, data in previous.items():
        assert (folder / name).read_bytes() == data, f"{name} was damaged by a failed write"
    assert sorted(f.name for f in folder.iterdir()) == sorted(previous), "a temporary file was left behind"


def _previous(folder: Path, **files: bytes) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return files


BIG = LIMIT * 4


@pytest.mark.parametrize("writer", ["write_bytes_atomic", "write_text_atomic", "write_json_atomic", "atomic_path"])
def test_full_disk_atomic_helpers(tmp_path, writer):
    prev = _previous(tmp_path / "out", **{"a.npy": b"previous contents\n"})
    call = {"write_bytes_atomic": f"io.write_bytes_atomic('a.npy', b'x' * {BIG})",
            "write_text_atomic": f"io.write_text_atomic('a.npy', 'x' * {BIG})",
            "write_json_atomic": f"io.write_json_atomic('a.npy', ['x' * {BIG}])",
            "atomic_path": f"import numpy as np\nwith io.atomic_path('a.npy') as t:\n    np.save(t, np.zeros({BIG}))"}
    p = _full_disk(f"from mcuformer import io\n{call[writer]}\n", tmp_path / "out")
    _assert_intact(tmp_path / "out", prev, p)


def test_full_disk_checkpoint(tmp_path):
    from mcuformer.nas.checkpoint import load_checkpoint, save_checkpoint

    import torch

    save_checkpoint(tmp_path / "ck" / "supernet.pt", {"kind": "supernet", "epoch": 1, "w": torch.arange(4)})
    prev = {"supernet.pt": (tmp_path / "ck" / "supernet.pt").read_bytes()}
    p = _full_disk(f"""
        import torch
        from mcuformer.nas.checkpoint import save_checkpoint
        save_checkpoint('supernet.pt', {{'kind': 'supernet', 'epoch': 2, 'w': torch.zeros({BIG})}})
        """, tmp_path / "ck")
    _assert_intact(tmp_path / "ck", prev, p)
    assert load_checkpoint(tmp_path / "ck" / "supernet.pt")["epoch"] == 1


def test_full_disk_search_result(tmp_path):
    prev = _previous(tmp_path / "nas", **{"search.json": b'{"previous": true}\n'})
    p = _full_disk(f"""
        from mcuformer.nas import pipeline
        class Big:
            def to_dict(self):
                return {{"candidates": ["x" * {BIG}]}}
        pipeline.SearchResult.save(Big(), "search.json")
        """, tmp_path / "nas")
    _assert_intact(tmp_path / "nas", prev, p)


@pytest.mark.parametrize("what", ["output", "json"])
def test_full_disk_run_mcu_outputs(tmp_path, what):
    """run-mcu writes its .npy outputs then its JSON summary: whichever fails, the previous file survives whole."""
    folder = tmp_path / "run"
    prev = _previous(folder, **{"out.npy": b"previous npy", "summary.json": b'{"previous": true}'})
    (tmp_path / "in.npy").write_bytes(b"")
    big_out, big_json = (BIG, 10) if what == "output" else (10, BIG)
    p = _full_disk(f"""
        import sys
        import numpy as np
        from mcuformer.mcu import cli
        def fake_run_mcu(*a, **k):
            return np.zeros(({big_out},), np.float32), {{"board": "qemu-mps2-an500", "pad": "x" * {big_json}}}
        cli.run_mcu = fake_run_mcu
        np.load = lambda path: np.zeros((1, 4), np.float32)
        sys.exit(cli.main(["model.pte", "--input", "{tmp_path / 'in.npy'}", "--output", "out.npy",
                          "--json", "summary.json"]))
        """, folder)
    if what == "json":  # the small .npy was written (atomically) before the JSON failed
        new_npy = (folder / "out.npy").read_bytes()
        assert np.load(folder / "out.npy").shape == (10,)
        prev["out.npy"] = new_npy
    _assert_intact(folder, prev, p)
