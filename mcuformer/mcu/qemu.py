"""Run a firmware in QEMU (mps2-an500): all samples in one boot, inputs via semihosting from input.bin into the frame
buffer, outputs to output.bin; the TCG plugin tools/qemu_plugin counts executed instructions per inference, per op and
per function."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .build import (BUILD_ROOT, SOURCE_ROOT, Firmware, build_firmware, hash_files, locked, run_cmd,
                    tool, tree)
from .errors import McuBuildError, McuError, McuTimeout
from .parse import describe_exit_code, json_line, pack_inputs, unpack_outputs

PLUGIN_DIR = SOURCE_ROOT / "tools" / "qemu_plugin"
RUNNABLE_BOARDS = {"qemu-mps2-an500"}


def plugin_path() -> Path:
    """Builds (cached) and returns the QEMU instruction-count plugin."""
    h = hashlib.sha256()
    hash_files(h, tree(PLUGIN_DIR, (".c", ".h")))
    out = BUILD_ROOT / f"plugin-{h.hexdigest()[:16]}"
    so = out / "libmcu_insn_count.so"
    with locked(out):
        if not so.exists():
            out.mkdir(parents=True, exist_ok=True)
            r = run_cmd([tool("gcc"), "-O2", "-Wall", "-std=gnu11", "-shared", "-fPIC", "-fvisibility=hidden",
                      "-o", str(so), str(PLUGIN_DIR / "mcu_insn_count.c")])
            if r.returncode != 0:
                raise McuBuildError("plugin build failed:\n" + r.stderr)
    return so


def _symbols_file(elf: Path, dest: Path) -> None:
    r = run_cmd([tool("arm-none-eabi-nm"), "-S", "-C", "--defined-only", str(elf)])
    lines = []
    for line in r.stdout.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in ("t", "T", "w", "W"):
            lines.append(f"{parts[0]} {parts[1]} {parts[3]}")
    dest.write_text("\n".join(lines) + "\n")


def run_mcu(pte_path: str | Path, inputs: Any, *, board: str = "qemu-mps2-an500", arena_bytes: int | None = None,
            stack_bytes: int = 8192, pte_region: str = "auto", runtime: str = "real", profile: bool = True,
            timeout: float = 600.0, keep_dir: str | Path | None = None, kernels: str = "cm7",
            frame_region: str = "SDRAM", target: str = "stm32f746") -> tuple[Any, dict[str, Any]]:
    """Builds the firmware for `pte_path` and runs every sample of `inputs` in one QEMU boot.

    inputs: an array [N, ...] (or [...] for one sample) holding N samples of the model's input, or a list of such
    arrays for a model with several inputs. Returns (outputs, summary): outputs is an array [N, numel] (a list of
    them for several outputs), summary a dict (see the keys below). Raises McuError on any failure.
    kernels / frame_region / target: see build_firmware."""
    if board not in RUNNABLE_BOARDS:
        raise McuError(f"board {board!r} has no emulator here: use build_firmware() to build it")
    fw = build_firmware(pte_path, board=board, arena_bytes=arena_bytes, stack_bytes=stack_bytes,
                        pte_region=pte_region, runtime=runtime, kernels=kernels, frame_region=frame_region,
                        target=target)
    info = fw.info
    if info.get("error", 1) == 0 and info.get("model_status", 1) == 0:
        raw_in, batch = pack_inputs(inputs, info)
    else:
        raw_in, batch = b"\0" * 4, 1  # the firmware rejects the .pte before reading any input

    run_dir = Path(keep_dir) if keep_dir else Path(tempfile.mkdtemp(prefix="mcu-run-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        (run_dir / "input.bin").write_bytes(raw_in)
        cmd = [tool("qemu-system-arm"), "-M", "mps2-an500", "-nographic", "-monitor", "none", "-serial", "null",
               "-semihosting-config", "enable=on,target=native", "-kernel", str(fw.elf)]
        counts_path = run_dir / "counts.json"
        if profile:
            _symbols_file(fw.elf, run_dir / "symbols.txt")
            cmd += ["-plugin", f"{plugin_path()},symbols={run_dir / 'symbols.txt'},out={counts_path}"]
        try:
            r = run_cmd(cmd, cwd=run_dir, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise McuTimeout(f"QEMU did not finish within {timeout} s", log=str(e.stdout or "")) from None
        log = r.stdout + r.stderr
        if r.returncode != 0:
            err = json_line(log, "MCU_ERROR", code=r.returncode) or {}
            message = err.get("message") or describe_exit_code(r.returncode)
            raise McuError(message, code=r.returncode, log=log)
        fw_summary = json_line(log, "MCU_SUMMARY")
        if not fw_summary:
            raise McuError("the firmware printed no summary", code=r.returncode, log=log)
        outputs = unpack_outputs((run_dir / "output.bin").read_bytes(), batch, info)
        counts = json.loads(counts_path.read_text()) if profile and counts_path.exists() else None
    finally:
        if not keep_dir:
            shutil.rmtree(run_dir, ignore_errors=True)

    summary = _summary(fw, fw_summary, counts, batch)
    return (outputs[0] if len(outputs) == 1 else outputs), summary


def _summary(fw: Firmware, fw_summary: dict[str, Any], counts: dict[str, Any] | None, batch: int) -> dict[str, Any]:
    s: dict[str, Any] = {
        "board": fw.board,
        "runtime": fw.runtime,
        "elf": str(fw.elf),
        "kernels": fw.kernels,
        "frame_region": fw.frame_region,
        "ram_bytes": fw.usage["RAM"],          # all SRAM: .stack + .data + .bss + .arena (incl. canaries) [+ .frame]
        "target": fw.target,
        "ram_budget_bytes": fw.regions["RAM"][1],
        "flash_bytes": fw.usage["FLASH"],      # internal flash: vectors, code, rodata, .data image (+ .pte if FLASH)
        "flash_budget_bytes": fw.regions["FLASH"][1],
        "qspi_bytes": fw.usage["QSPI"],
        "sdram_bytes": fw.usage["SDRAM"],      # the input frame buffer (unless frame_region is RAM)
        "pte_region": fw.pte_region,
        "sections": {k: v["size"] for k, v in fw.sections.items()},
        "arena_bytes": fw_summary.get("arena_bytes"),
        "arena_capacity": fw_summary.get("arena_capacity"),
        "stack_bytes": fw_summary.get("stack_bytes"),
        "stack_peak_bytes": fw_summary.get("stack_peak_bytes"),
        "canaries_ok": fw_summary.get("canaries_ok"),
        "stack_ok": fw_summary.get("stack_ok"),
        "inferences": fw_summary.get("inferences", batch),
        "pte_bytes": fw_summary.get("pte_bytes"),
        "delegate_bytes": fw_summary.get("delegate_bytes"),
        "delegate_in_segment": fw_summary.get("delegate_in_segment"),
        "et_planned_bytes": fw_summary.get("et_planned_bytes"),
        "firmware": fw_summary,
    }
    if counts is not None:
        per_inf = counts.get("inferences", [])
        n = max(len(per_inf), 1)
        s["instructions"] = int(round(sum(per_inf) / n)) if per_inf else None  # mean per inference
        s["instructions_first"] = per_inf[0] if per_inf else None
        s["instructions_min"] = min(per_inf) if per_inf else None
        s["instructions_max"] = max(per_inf) if per_inf else None
        s["instructions_total_run"] = counts.get("total_instructions")
        s["per_op_instructions"] = [
            {"index": op["index"], "kind": op["kind"], "instructions": op["instructions"] / n,
             "instructions_total": op["instructions"], "calls": op["calls"]}
            for op in counts.get("ops", [])]
        funcs = [f for f in counts.get("functions", []) if f.get("in_inference")]
        funcs.sort(key=lambda f: -f["in_inference"])
        per_function: dict[str, float] = {}
        for f in funcs:  # static functions of several translation units share a name: their counts add up
            per_function[f["name"]] = per_function.get(f["name"], 0.0) + f["in_inference"] / n
        s["per_function_instructions"] = per_function
    else:
        s["instructions"] = None
        s["per_op_instructions"] = None
    return s
