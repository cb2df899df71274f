"""The host delegate library built with ASan + UBSan, and what a Python process needs to load it.

    lib = asan_host_library(static_arena=256)   # build/asan-executorch-arena256/libmcuformer_host.so (cached)
    env = asan_env()                            # LD_PRELOAD (libasan, libstdc++) + ASAN/UBSAN options

Python is not built with ASan, so the sanitizer runtime must be preloaded; libstdc++ is preloaded with it so ASan
finds the real __cxa_throw at start-up (torch throws C++ exceptions during import). Leak checks are off: the
interpreter itself "leaks" by design. MCUFORMER_STATIC_ARENA_BYTES gives the ExecuTorch adapter the firmware's arena
model (one static arena, a blob planning more is refused); the C entry points (host_api.h) are unaffected.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def sanitizer_preload() -> str:
    libs = []
    for name in ("libasan.so", "libstdc++.so"):
        p = subprocess.run(["c++", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
        if not os.path.isabs(p) or not os.path.exists(p):
            pytest.skip(f"{name} not found for the host compiler")
        libs.append(p)
    return " ".join(libs)


def asan_env(**extra: str) -> dict[str, str]:
    return dict(os.environ, LD_PRELOAD=sanitizer_preload(),
                ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0",
                UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1", PYTHONPATH=str(REPO), **extra)


def asan_host_library(static_arena: int) -> Path:
    """runtime/ with MCUFORMER_SANITIZE=ON and MCUFORMER_STATIC_ARENA_BYTES -> libmcuformer_host.so, cached per arena
    size under build/."""
    from mcuformer.backend.runtime_loader import executorch_root

    if shutil.which("cmake") is None or shutil.which("c++") is None:
        pytest.skip("cmake / c++ not installed")
    build = REPO / "build" / f"asan-executorch-arena{static_arena}"
    build.mkdir(parents=True, exist_ok=True)
    with open(f"{build}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for cmd in (["cmake", "-S", str(REPO / "runtime"), "-B", str(build), "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                     "-DMCUFORMER_SANITIZE=ON", "-DMCUFORMER_TESTS=OFF", f"-DMCUFORMER_EXECUTORCH_ROOT={executorch_root()}",
                     f"-DCMAKE_CXX_FLAGS=-DMCUFORMER_STATIC_ARENA_BYTES={static_arena}"],
                    ["cmake", "--build", str(build), "--target", "mcuformer_host", "-j2"]):
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert p.returncode == 0, p.stdout[-6000:]
    return build / "libmcuformer_host.so"


def sanitizer_errors(text: str) -> bool:
    return "ERROR: AddressSanitizer" in text or "runtime error:" in text or "ERROR: LeakSanitizer" in text


def seed_static_arena() -> int:
    """The largest arena of the seed models (tests/fuzz/seeds.py): the static arena test_faults.py runs them in, so
    every sanitizer test shares one build."""
    import sys

    sys.path.insert(0, str(REPO / "tests" / "fuzz"))
    import driver  # noqa: PLC0415

    import fault_blobs  # noqa: PLC0415

    return max(fault_blobs.arena_bytes(p.read_bytes()) for p in driver.seed_dirs()["blob"].iterdir())
