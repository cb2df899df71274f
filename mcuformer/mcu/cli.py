"""`mcuformer run-mcu MODEL.pte --input IN.npy --output OUT.npy [--json S.json]`; also `python -m mcuformer.mcu`."""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from ..io import atomic_path, write_json_atomic
from .build import BOARDS, FRAME_REGIONS, KERNELS, RUNTIMES, TARGETS, build_firmware
from .errors import McuBudgetError, McuError
from .qemu import RUNNABLE_BOARDS, run_mcu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mcuformer run-mcu", description="Run a .pte on the emulated Cortex-M7.")
    ap.add_argument("pte", help="the .pte (one MCUFormerBackend delegate call)")
    ap.add_argument("--input", required=True, help=".npy: [N, ...] samples (or one sample)")
    ap.add_argument("--output", help=".npy to write the outputs to ([N, numel])")
    ap.add_argument("--json", help="write the summary as JSON here")
    ap.add_argument("--board", default="qemu-mps2-an500", choices=sorted(BOARDS))
    ap.add_argument("--target", default="stm32f746", choices=sorted(TARGETS["qemu-mps2-an500"]),
                    help="the MCU whose SRAM and flash the linker enforces (default: stm32f746)")
    ap.add_argument("--arena-bytes", type=int, help="override the plan's arena size")
    ap.add_argument("--stack-bytes", type=int, default=8192)
    ap.add_argument("--pte-region", default="auto", choices=["auto", "FLASH", "QSPI"])
    ap.add_argument("--runtime", default="real", choices=list(RUNTIMES),
                    help="real: runtime/ (default); stub: the TEST-ONLY stub runtime of the firmware tests")
    ap.add_argument("--kernels", default="cm7", choices=list(KERNELS), help="DSP (cm7) or scalar reference kernels")
    ap.add_argument("--frame-region", default="SDRAM", choices=list(FRAME_REGIONS),
                    help="input frame buffer in SDRAM (outside the budget) or in SRAM (counted)")
    ap.add_argument("--no-profile", action="store_true", help="run without the instruction-count plugin")
    ap.add_argument("--timeout", type=float, default=600.0)
    a = ap.parse_args(argv)
    try:
        if a.board not in RUNNABLE_BOARDS:
            fw = build_firmware(a.pte, board=a.board, arena_bytes=a.arena_bytes, stack_bytes=a.stack_bytes,
                                pte_region=a.pte_region, runtime=a.runtime, kernels=a.kernels,
                                frame_region=a.frame_region, target=a.target)
            summary = {"board": a.board, "elf": str(fw.elf), "ram_bytes": fw.usage["RAM"],
                       "flash_bytes": fw.usage["FLASH"], "qspi_bytes": fw.usage["QSPI"], "pte_region": fw.pte_region}
        else:
            x = np.load(a.input)
            outputs, summary = run_mcu(a.pte, x, board=a.board, arena_bytes=a.arena_bytes, stack_bytes=a.stack_bytes,
                                       pte_region=a.pte_region, runtime=a.runtime, profile=not a.no_profile,
                                       timeout=a.timeout, kernels=a.kernels, frame_region=a.frame_region,
                                       target=a.target)
            if a.output:  # atomically (temp file + fsync + rename): a failed write leaves the previous file whole
                dest = a.output if a.output.endswith(".npy") else a.output + ".npy"  # np.save's naming
                try:
                    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
                        np.save(f, outputs)
                except OSError as e:
                    raise McuError(f"cannot write {dest}: {e}") from e
    except ValueError as e:  # a target the board cannot carry
        print(f"run-mcu: {e}", file=sys.stderr)
        return 2
    except McuBudgetError as e:
        print(f"run-mcu: over budget: region {e.region} overflowed by {e.overflow_bytes} bytes", file=sys.stderr)
        return 3
    except McuError as e:
        print(f"run-mcu: {e}", file=sys.stderr)
        return 2
    brief = {k: summary.get(k) for k in ("board", "ram_bytes", "flash_bytes", "qspi_bytes", "arena_bytes",
                                         "stack_peak_bytes", "instructions", "inferences", "canaries_ok")}
    print(json.dumps(brief))
    if a.json:
        try:
            write_json_atomic(a.json, summary, indent=2)
        except OSError as e:
            print(f"run-mcu: cannot write {a.json}: {e}", file=sys.stderr)
            return 2
    return 0
