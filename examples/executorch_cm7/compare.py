"""Runs a .pte on both firmwares in QEMU (mps2-an500, STM32F746 budgets) and compares them:
the ExecuTorch-runtime firmware built from this folder (its ELF given), and today's minimal firmware
(examples/stm32f746, built and run by mcuformer.mcu). Prints flash, RAM, instructions per inference and whether the
outputs are bit-identical, as one JSON object.

    python examples/executorch_cm7/compare.py build/et_cm7/et_firmware.elf model.pte [--images 100]

The inputs are the first N Fashion-MNIST test images when the model takes 1x1x28x28 and the data set is installed,
else N standard-normal samples of the model's input shape.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def _inputs(pte: Path, n: int) -> np.ndarray:
    from executorch.runtime import Runtime

    meta = Runtime.get().load_program(pte.read_bytes()).metadata("forward")
    shape = tuple(meta.input_tensor_meta(0).sizes())
    if shape == (1, 1, 28, 28):
        from mcuformer.nas.data import DatasetMissing, load_fashion_mnist, normalize

        try:
            return normalize(load_fashion_mnist().test.images[:n]).numpy().reshape((n,) + shape)
        except DatasetMissing:
            pass
    return np.random.default_rng(0).standard_normal((n,) + shape).astype(np.float32)


def run_et_firmware(elf: Path, x: np.ndarray, out_numel: int) -> tuple[np.ndarray, dict, dict]:
    from mcuformer import mcu

    with tempfile.TemporaryDirectory(prefix="et-cm7-") as d:
        run = Path(d)
        (run / "input.bin").write_bytes(np.ascontiguousarray(x, np.float32).tobytes())
        mcu._symbols_file(elf, run / "symbols.txt")
        cmd = ["qemu-system-arm", "-M", "mps2-an500", "-nographic", "-monitor", "none", "-serial", "null",
               "-semihosting-config", "enable=on,target=native", "-kernel", str(elf),
               "-plugin", f"{mcu.plugin_path()},symbols={run / 'symbols.txt'},out={run / 'counts.json'}"]
        r = subprocess.run(cmd, cwd=run, capture_output=True, text=True, timeout=600)
        summary = mcu._parse_json_line(r.stdout, "MCU_SUMMARY") or {}
        if r.returncode != 0 or summary.get("status") != 0:
            raise RuntimeError(f"ExecuTorch firmware failed (exit {r.returncode}):\n{r.stdout}{r.stderr}")
        out = np.frombuffer((run / "output.bin").read_bytes(), np.float32).reshape(len(x), out_numel)
        counts = json.loads((run / "counts.json").read_text())
    return out, summary, counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("elf", type=Path, help="et_firmware.elf built from examples/executorch_cm7")
    ap.add_argument("pte", type=Path)
    ap.add_argument("--images", type=int, default=100)
    a = ap.parse_args(argv)
    from mcuformer import mcu

    x = _inputs(a.pte, a.images)
    ref, ref_summary = mcu.run_mcu(a.pte, x)
    ref = np.asarray(ref, np.float32).reshape(len(x), -1)
    got, et_summary, counts = run_et_firmware(a.elf, x, ref.shape[1])
    usage = mcu._usage("qemu_mps2_an500", mcu._sections(a.elf))
    per_inf = counts.get("inferences", [])
    load = counts.get("total_instructions", 0) - sum(per_inf)
    result = {
        "images": len(x),
        "identical_outputs": bool(np.array_equal(got.view(np.uint32), ref.view(np.uint32))),
        "executorch": {"flash_bytes": usage["FLASH"], "ram_bytes": usage["RAM"], "qspi_bytes": usage["QSPI"],
                       "instructions_per_inference": int(round(sum(per_inf) / max(len(per_inf), 1))),
                       "instructions_outside_inference": load,
                       "method_pool_bytes": et_summary.get("method_pool_bytes"),
                       "method_pool_used_bytes": et_summary.get("method_pool_used_bytes"),
                       "planned_bytes": et_summary.get("planned_bytes"),
                       "stack_peak_bytes": et_summary.get("stack_peak_bytes")},
        "minimal": {"flash_bytes": ref_summary["flash_bytes"], "ram_bytes": ref_summary["ram_bytes"],
                    "qspi_bytes": ref_summary["qspi_bytes"], "instructions_per_inference": ref_summary["instructions"],
                    "arena_bytes": ref_summary["arena_bytes"], "stack_peak_bytes": ref_summary["stack_peak_bytes"]},
    }
    print(json.dumps(result, indent=1))
    return 0 if result["identical_outputs"] else 1


if __name__ == "__main__":
    sys.exit(main())
