"""The Cortex-M7 DSP kernels (real SXTB16/SMLAD/SMMULR/... and the Thumb-2 asm loops, which the host build never
compiles) against the reference kernels on the emulated Cortex-M7: random shapes and parameters, including the
int64 fallbacks, in one bare-metal program (tests/cpp/qemu/cm7_kernels.cpp) under QEMU mps2-an500."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "tests" / "cpp" / "qemu"
KERNELS = REPO / "runtime" / "src" / "kernels"
FLAGS = ["-mcpu=cortex-m7", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard", "-mthumb", "-O2", "-fno-exceptions",
         "-fno-rtti", "-ffp-contract=off", "-fno-use-cxa-atexit", "-std=c++17"]

pytestmark = pytest.mark.skipif(not (shutil.which("arm-none-eabi-g++") and shutil.which("qemu-system-arm")),
                                reason="arm-none-eabi-g++ and qemu-system-arm are needed")


def test_cm7_kernels_bit_exact_with_ref_on_cortex_m7(tmp_path):
    sources = [SRC / "start.cpp", SRC / "cm7_kernels.cpp"]
    sources += [KERNELS / "ref" / f"{k}.cpp" for k in ("add", "layernorm", "softmax", "matmul", "rescale", "linear",
                                                                     "quantize", "conv2d_patch")]
    sources += [KERNELS / "cm7" / f"{k}.cpp" for k in ("add", "layernorm", "softmax", "matmul", "gemv", "gemm",
                                                                     "rescale", "linear", "quantize",
                                                                     "conv2d_patch")]
    elf = tmp_path / "cm7_kernels.elf"
    r = subprocess.run(["arm-none-eabi-g++", *FLAGS, f"-I{REPO / 'runtime' / 'include'}", "-nostartfiles",
                        "--specs=rdimon.specs", "-T", str(SRC / "link.ld"), *map(str, sources), "-o", str(elf),
                        "-lrdimon"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    r = subprocess.run(["qemu-system-arm", "-M", "mps2-an500", "-nographic", "-monitor", "none", "-serial", "null",
                        "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "ktest: 0 failures" in r.stdout, r.stdout[-4000:] + r.stderr[-2000:]
