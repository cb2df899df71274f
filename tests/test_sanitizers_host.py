"""The ctypes test suites of the C entry points (tests/test_runtime_kernels.py: every kernel bit-exact against the
numpy reference with hypothesis; tests/test_runtime_blob.py: every rejection path of the loader) run again in a child
pytest against the host library built with ASan + UBSan (tests/sanitizer_builds.py, MCUFORMER_HOST_LIBRARY).
Together with tests/test_runtime_sanitizers.py (tests/cpp under ASan + UBSan), tests/test_firmware_loader.py (the
firmware's .pte loader under ASan), tests/test_fuzz.py (libFuzzer with ASan + UBSan) and tests/test_faults.py
(ExecuTorch's runtime with the sanitized delegate), every C++ path the product has runs under the sanitizers."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sanitizer_builds import asan_env, asan_host_library, sanitizer_errors, seed_static_arena

REPO = Path(__file__).resolve().parents[1]


def test_ctypes_suites_under_asan_ubsan():
    lib = asan_host_library(seed_static_arena())
    env = asan_env(MCUFORMER_HOST_LIBRARY=str(lib))
    which = subprocess.run([sys.executable, "-c", "from mcuformer.backend.runtime_loader import load_runtime; "
                            "print(load_runtime()._name)"], cwd=REPO, capture_output=True, text=True, env=env)
    assert which.stdout.strip().splitlines()[-1] == str(lib), which.stdout + which.stderr  # the sanitized build
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_runtime_kernels.py",
                        "tests/test_runtime_blob.py"], cwd=REPO, capture_output=True, text=True, timeout=900,
                       env=env)
    out = p.stdout + p.stderr
    assert not sanitizer_errors(out), out[-8000:]
    assert p.returncode == 0, out[-8000:]
    assert " passed" in p.stdout and " failed" not in p.stdout
