"""Build the Cortex-M7 firmware for a `.pte` and run it in QEMU (mps2-an500 with a target MCU's budgets).

    outputs, summary = run_mcu("model.pte", images)          # images: float32 [N, ...], one sample per row
    summary["ram_bytes"], summary["flash_bytes"], summary["instructions"], summary["per_op_instructions"]

One module per job (examples/stm32f746/README.md has the details):
  build.py   host tools (`pte_info` reads the `.pte` with the firmware's own loader and runtime: arena and sample
             sizes), then the firmware sized from them, the `.pte` in internal flash if it fits, else in the QSPI
             stand-in region; the linker enforces the target's flash and SRAM (`target=`, a mcuformer.targets
             board: default the STM32F746's 1 MB / 320 KB) and 16 MB of QSPI. Builds are cached by content hash
             under build/mcu/ at the repository root;
  qemu.py    all samples in one QEMU boot, the TCG plugin tools/qemu_plugin counting executed instructions per
             inference, per op and per function;
  parse.py   the firmware's exit codes, its summary lines and its raw input/output files;
  cli.py     `mcuformer run-mcu`.

The firmware links the real runtime (runtime/); runtime="stub" selects the TEST-ONLY stub
(examples/stm32f746/tests/stub_runtime.cpp) and says so with a StubRuntimeWarning.

Failures raise McuError (firmware exit code + message), McuBudgetError (linker overflow, with the bytes over),
McuBuildError or McuTimeout.
"""
from .build import (BOARDS, FRAME_REGIONS, KERNELS, RUNTIMES, TARGETS, Firmware, StubRuntimeWarning, build_firmware,
                    host_tools, pte_info, regions)
from .cli import main
from .errors import McuBudgetError, McuBuildError, McuError, McuTimeout
from .parse import describe_exit_code
from .qemu import RUNNABLE_BOARDS, plugin_path, run_mcu

__all__ = ["BOARDS", "FRAME_REGIONS", "KERNELS", "RUNNABLE_BOARDS", "RUNTIMES", "TARGETS", "Firmware",
           "McuBudgetError", "McuBuildError", "McuError", "McuTimeout", "StubRuntimeWarning", "build_firmware",
           "describe_exit_code", "host_tools", "main", "plugin_path", "pte_info", "regions", "run_mcu"]
