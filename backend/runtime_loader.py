"""Builds (when missing or stale) and loads the host runtime library, registering "MCUFormerBackend" with ExecuTorch.

``load_runtime()`` configures ``runtime/`` with CMake into ``<build root>/host`` (``build/host`` in a checkout, a
per-user cache for an installed package: ``mcuformer.paths``), builds the shared library
``libmcuformer_host.so`` against the executorch wheel's headers and ``libexecutorch.so``, and loads it with
``ctypes.CDLL``. Loading it runs the backend's static registration, after which ``executorch.runtime.Runtime`` and
``_load_for_executorch`` can run programs delegated to MCUFormerBackend. The handle also exposes the plain C entry
points of ``runtime/include/mcuformer/host_api.h`` (used by the kernel tests to run single-op blobs).
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import subprocess
import threading
from pathlib import Path

from ..paths import build_root, source_root

RUNTIME_DIR = source_root() / "runtime"
SCHEMA = source_root() / "backend" / "serialization" / "schema.fbs"
BUILD_DIR = build_root() / "host"
LIBRARY = BUILD_DIR / "libmcuformer_host.so"

_SOURCE_SUFFIXES = {".cpp", ".h", ".hpp", ".txt", ".cmake"}
_lock = threading.Lock()
_handle: ctypes.CDLL | None = None


class RuntimeBuildError(RuntimeError):
    """The host runtime could not be built (missing tools, or a compile error: the message has the log)."""


def executorch_root() -> Path:
    """The executorch wheel's folder (headers in include/, libexecutorch.so in lib/)."""
    import executorch  # a namespace package: no __file__, but a __path__

    for p in executorch.__path__:
        if (Path(p) / "include" / "executorch").is_dir() and (Path(p) / "lib").is_dir():
            return Path(p)
    raise RuntimeBuildError(f"no executorch wheel with include/ and lib/ found in {list(executorch.__path__)}")


def _sources() -> list[Path]:
    files = [p for p in RUNTIME_DIR.rglob("*") if p.is_file() and p.suffix in _SOURCE_SUFFIXES]
    return files + [SCHEMA]


def is_stale() -> bool:
    if not LIBRARY.exists():
        return True
    built = LIBRARY.stat().st_mtime
    return any(p.stat().st_mtime > built for p in _sources())


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise RuntimeBuildError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout[-8000:]}")


def build(jobs: int = 2, force: bool = False) -> Path:
    """Configures and builds <build root>/host/libmcuformer_host.so if missing or older than any runtime source."""
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing:
        raise RuntimeBuildError(f"cannot build the MCUFormer runtime: {', '.join(missing)} not found on PATH "
                                "(run scripts/setup.sh, or apt-get install cmake g++ flatbuffers-compiler "
                                "libflatbuffers-dev)")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with open(BUILD_DIR.parent / "host.lock", "w") as lock:  # concurrent pytest workers build once
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if force or is_stale():
                _run(["cmake", "-S", str(RUNTIME_DIR), "-B", str(BUILD_DIR), "-DCMAKE_BUILD_TYPE=Release",
                      f"-DMCUFORMER_EXECUTORCH_ROOT={executorch_root()}"])
                _run(["cmake", "--build", str(BUILD_DIR), "--target", "mcuformer_host", f"-j{jobs}"])
                os.utime(LIBRARY)  # a no-op rebuild must still count as fresh
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return LIBRARY


def _declare(lib: ctypes.CDLL) -> None:
    vp, sz, i32 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
    ptrs, sizes = ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)
    lib.mcuformer_host_run.argtypes = [vp, sz, i32, ptrs, sizes, i32, ptrs, sizes]
    lib.mcuformer_host_run.restype = i32
    lib.mcuformer_host_run_arena.argtypes = [vp, sz, sz, i32, ptrs, sizes, i32, ptrs, sizes]
    lib.mcuformer_host_run_arena.restype = i32
    lib.mcuformer_host_inspect.argtypes = [vp, sz, ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(i32),
                                           ctypes.POINTER(i32)]
    lib.mcuformer_host_inspect.restype = i32
    lib.mcuformer_host_io_info.argtypes = [vp, sz, i32, i32, ctypes.POINTER(i32), sizes]
    lib.mcuformer_host_io_info.restype = i32
    lib.mcuformer_host_status_str.argtypes = [i32]
    lib.mcuformer_host_status_str.restype = ctypes.c_char_p
    lib.mcuformer_host_schema_version.argtypes = []
    lib.mcuformer_host_schema_version.restype = ctypes.c_uint32
    lib.mcuformer_register_backend.argtypes = []
    lib.mcuformer_register_backend.restype = i32


def load_runtime(rebuild: bool = False) -> ctypes.CDLL:
    """Builds the host runtime if needed, loads it (registering MCUFormerBackend with ExecuTorch) and returns the
    ctypes handle. Cached: later calls return the same handle (a library cannot be reloaded in one process)."""
    global _handle
    with _lock:
        if _handle is not None:
            return _handle
        # MCUFORMER_HOST_LIBRARY: load a prebuilt variant instead (the sanitizer tests run the ctypes test suites
        # against an ASan + UBSan build, tests/test_sanitizers_host.py).
        override = os.environ.get("MCUFORMER_HOST_LIBRARY")
        path = Path(override) if override else build(force=rebuild)
        lib = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
        _declare(lib)
        status = lib.mcuformer_register_backend()
        if status != 0:
            raise RuntimeBuildError(f"registering MCUFormerBackend with ExecuTorch failed (error 0x{status:x})")
        _handle = lib
        return lib


def run_pte(pte: bytes | str | Path, inputs, batch_progress=None):
    """Runs a .pte's ``forward`` on each sample of ``inputs`` (an array [N, ...]: one sample per call, as on the
    device) through ExecuTorch's own runtime with our delegate registered; returns the outputs as one array
    [N, numel]. ``batch_progress``: an optional callable(i) per sample (progress bars)."""
    import numpy as np
    import torch
    from executorch.runtime import Runtime

    load_runtime()
    data = Path(pte).read_bytes() if isinstance(pte, (str, Path)) else pte
    program = Runtime.get().load_program(data)  # kept alive while its method runs (a Method does not keep it)
    method = program.load_method("forward")
    outs = []
    for i in range(len(inputs)):
        x = torch.from_numpy(np.ascontiguousarray(inputs[i:i + 1]))
        outs.append(method.execute([x])[0].numpy().reshape(-1).copy())
        if batch_progress is not None:
            batch_progress(i)
    del method, program
    return np.stack(outs) if outs else np.zeros((0, 0), np.float32)
