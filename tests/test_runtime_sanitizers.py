"""The C++ test runner (tests/cpp: loader, kernels, every-bit-flip and extreme-value blob fuzzing) built with
AddressSanitizer + UndefinedBehaviorSanitizer (-DMCUFORMER_SANITIZE=ON) must run clean, and so must the plain build."""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _build_and_run(build_dir: Path, *cmake_args: str, args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    if shutil.which("cmake") is None or shutil.which("c++") is None:
        pytest.skip("cmake / c++ not installed")
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir.parent / f"{build_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for cmd in (["cmake", "-S", str(REPO / "runtime"), "-B", str(build_dir), "-DMCUFORMER_EXECUTORCH=OFF",
                     *cmake_args],
                    ["cmake", "--build", str(build_dir), "--target", "mcuformer_cpp_tests", "-j2"]):
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert proc.returncode == 0, proc.stdout[-6000:]
    env = dict(os.environ,
               ASAN_OPTIONS="abort_on_error=0:halt_on_error=1:detect_leaks=1:strict_string_checks=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    return subprocess.run([str(build_dir / "mcuformer_cpp_tests"), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env, timeout=600)


def test_cpp_tests_under_asan_ubsan():
    proc = _build_and_run(REPO / "build" / "asan", "-DMCUFORMER_SANITIZE=ON", "-DCMAKE_BUILD_TYPE=RelWithDebInfo")
    assert proc.returncode == 0, proc.stdout[-8000:]
    assert "0 failed checks" in proc.stdout
    assert "ERROR: AddressSanitizer" not in proc.stdout and "runtime error:" not in proc.stdout


def test_fuzz_real_blobs_under_asan_ubsan(tmp_path):
    """Mutants (bit flips with the CRC fixed, extreme 32-bit words) of real blobs: a one-op program and a whole
    scheduled ViT (LOOPs, views, in-place ops) from the backend. Whatever loads must run clean."""
    from mcuformer.backend.serialization.serialize import serialize
    from test_runtime_blob import linear_program
    from test_runtime_support import tiny_vit

    seeds = [tmp_path / "linear.blob", tmp_path / "vit.blob"]
    seeds[0].write_bytes(serialize(linear_program()[0]))
    seeds[1].write_bytes(tiny_vit()[2])
    proc = _build_and_run(REPO / "build" / "asan", "-DMCUFORMER_SANITIZE=ON", "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                          args=("--fuzz", "4000", *map(str, seeds)))
    assert proc.returncode == 0, proc.stdout[-8000:]
    assert "0 failed checks" in proc.stdout and proc.stdout.count("mutants ran") == 2


def test_cpp_tests_release():
    proc = _build_and_run(REPO / "build" / "cpptests", "-DCMAKE_BUILD_TYPE=Release")
    assert proc.returncode == 0, proc.stdout[-8000:]
    assert "0 failed checks" in proc.stdout
