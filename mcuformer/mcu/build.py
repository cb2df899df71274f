"""Build the Cortex-M7 firmware for a `.pte` and run it in QEMU (mps2-an500 with the STM32F746's budgets).

    outputs, summary = run_mcu("model.pte", images)          # images: float32 [N, ...], one sample per row
    summary["ram_bytes"], summary["flash_bytes"], summary["instructions"], summary["per_op_instructions"]

What happens (examples/stm32f746/README.md has the details):
 1. host tools (examples/stm32f746, host build) are built once per source hash; `pte_info` reads the `.pte` with the
    firmware's own loader and runtime and says how big the arena and the input/output samples are;
 2. the firmware is configured with those sizes, the `.pte` is linked into internal flash if it fits, else into the
    QSPI stand-in region; the linker enforces the 1 MB flash / 320 KB RAM / 16 MB QSPI budgets. Builds are cached by
    content hash under build/mcu/ at the repository root;
 3. QEMU runs all samples in one boot (inputs via semihosting from input.bin into the SDRAM frame buffer, outputs to
    output.bin); the TCG plugin tools/qemu_plugin counts executed instructions per inference, per op and per function.

Failures raise McuError (firmware exit code + message), McuBudgetError (linker overflow, with the bytes over),
McuBuildError or McuTimeout.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .io import atomic_path, write_json_atomic

REPO_ROOT = Path(__file__).resolve().parents[1]
FIRMWARE_DIR = REPO_ROOT / "examples" / "stm32f746"
TOOLCHAIN_FILE = REPO_ROOT / "runtime" / "cmake" / "arm-none-eabi.cmake"
PLUGIN_DIR = REPO_ROOT / "tools" / "qemu_plugin"
BUILD_ROOT = REPO_ROOT / "build" / "mcu"

BOARDS = {"qemu-mps2-an500": "qemu_mps2_an500", "stm32f746": "stm32f746"}
RUNNABLE_BOARDS = {"qemu-mps2-an500"}

# Address ranges of the linker regions, per board (see boards/*/linker.ld).
REGIONS = {
    "qemu_mps2_an500": {"FLASH": (0x00000000, 1 << 20), "RAM": (0x20000000, 320 << 10),
                        "QSPI": (0x60000000, 16 << 20), "SDRAM": (0x00100000, 3 << 20)},
    "stm32f746": {"FLASH": (0x08000000, 1 << 20), "RAM": (0x20000000, 320 << 10),
                  "QSPI": (0x90000000, 16 << 20), "SDRAM": (0xC0000000, 8 << 20)},
}

# mcuformer::DType values -> numpy dtypes.
DTYPES = {0: np.int8, 1: np.int32, 2: np.float32, 3: np.int16}

# Firmware exit codes (examples/stm32f746/app/app_status.h).
PTE_ERRORS = {1: "pte buffer missing or too small", 2: "not an ExecuTorch program (identifier is not ET12)",
              3: "inconsistent extended header (eh00)", 4: "flatbuffer verification failed",
              5: "program does not have exactly one method", 6: "method is not exactly one delegate call",
              7: "delegate id is not MCUFormerBackend", 8: "delegate data reference missing or out of range",
              9: "delegate segment outside the pte buffer", 10: "pte buffer or delegate data not 16-byte aligned"}
STATUS = {1: "invalid blob", 2: "version mismatch", 3: "arena too small", 4: "bad input", 5: "unsupported op",
          6: "misaligned"}
APP_CODES = {60: "model arena larger than the arena linked into this firmware", 61: "io mismatch",
             62: "input error", 63: "output error", 70: "arena canary below the arena overwritten",
             71: "arena canary above the arena overwritten", 72: "stack watermark reached the stack guard",
             90: "cpu fault"}


def describe_exit_code(code: int) -> str:
    if 10 < code < 40:
        return "pte rejected: " + PTE_ERRORS.get(code - 10, "unknown loader error")
    if 40 < code < 50:
        return "model_load: " + STATUS.get(code - 40, "unknown status")
    if 50 < code < 60:
        return "model_run: " + STATUS.get(code - 50, "unknown status")
    return APP_CODES.get(code, f"exit code {code}")


class McuError(RuntimeError):
    """The firmware (or a tool) failed. `code` is the firmware's exit code when there is one."""

    def __init__(self, message: str, code: int | None = None, log: str = ""):
        super().__init__(message if code is None else f"firmware error {code}: {message}")
        self.code = code
        self.message = message
        self.log = log


class McuBuildError(McuError):
    pass


class McuBudgetError(McuBuildError):
    """The linker found a memory region over budget."""

    def __init__(self, region: str, overflow_bytes: int, log: str = ""):
        super().__init__(f"region '{region}' overflowed by {overflow_bytes} bytes", log=log)
        self.region = region
        self.overflow_bytes = overflow_bytes


class McuTimeout(McuError):
    pass


# --------------------------------------------------------------------------------------------------------------
# Build

def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise McuBuildError(f"'{name}' not found: run scripts/setup.sh (gcc-arm-none-eabi, qemu-system-arm, cmake)")
    return path


def _hash_files(h: "hashlib._Hash", paths: list[Path]) -> None:
    for p in sorted(paths):
        h.update(str(p.relative_to(REPO_ROOT)).encode())
        h.update(p.read_bytes())


def _tree(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_file() and p.suffix in suffixes]


def _sources_hash(runtime: str) -> str:
    """Hash of everything a firmware or host-tool build depends on."""
    h = hashlib.sha256()
    h.update(runtime.encode())
    code = (".c", ".cc", ".cpp", ".h", ".hpp", ".S", ".ld", ".txt", ".cmake", ".fbs")
    _hash_files(h, _tree(FIRMWARE_DIR, code) + [TOOLCHAIN_FILE])
    if runtime == "real":
        _hash_files(h, _tree(REPO_ROOT / "runtime", code))
        schema = REPO_ROOT / "backend" / "serialization" / "schema.fbs"
        if schema.exists():
            _hash_files(h, [schema])
    return h.hexdigest()[:16]


def _resolve_runtime(runtime: str) -> str:
    if runtime == "auto":
        return "real" if (REPO_ROOT / "runtime" / "CMakeLists.txt").exists() else "stub"
    if runtime not in ("real", "stub"):
        raise ValueError(f"runtime must be auto, real or stub, not {runtime!r}")
    return runtime


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(cmd: list[str], cwd: Path | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # The venv's bin (with the executorch wheel's flatc 25.x) must not shadow Debian's flatc 2.0.8.
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _cmake_build(build_dir: Path, configure_args: list[str], target: str) -> str:
    cmake = _tool("cmake")
    log = ""
    r = _run([cmake, "-S", str(FIRMWARE_DIR), "-B", str(build_dir), *configure_args])
    log += r.stdout + r.stderr
    if r.returncode != 0:
        raise McuBuildError("cmake configure failed:\n" + log[-4000:], log=log)
    r = _run([cmake, "--build", str(build_dir), "--target", target, "-j", str(os.cpu_count() or 2)])
    log += r.stdout + r.stderr
    if r.returncode != 0:
        m = re.search(r"region [`'](\w+)' overflowed by (\d+) bytes", log)
        if m:
            raise McuBudgetError(m.group(1), int(m.group(2)), log=log)
        raise McuBuildError("build failed:\n" + log[-4000:], log=log)
    return log


def host_tools(runtime: str = "auto") -> Path:
    """Builds the host tools (pte_info, pte_loader_mutations); returns their build folder."""
    runtime = _resolve_runtime(runtime)
    build_dir = BUILD_ROOT / f"host-{runtime}-{_sources_hash(runtime)}"
    with _locked(build_dir):
        if not (build_dir / "pte_info").exists() or not (build_dir / "pte_loader_mutations").exists():
            _cmake_build(build_dir, ["-DCMAKE_BUILD_TYPE=Release", f"-DMCU_RUNTIME={runtime}"], "all")
    return build_dir


def pte_info(pte_path: str | Path, runtime: str = "auto") -> dict[str, Any]:
    """What the firmware's loader and runtime (host build, same sources) read from a .pte."""
    tools = host_tools(runtime)
    r = _run([str(tools / "pte_info"), str(pte_path)])
    try:
        info = json.loads(r.stdout)
    except json.JSONDecodeError:
        raise McuError(f"pte_info failed: {r.stdout}{r.stderr}", code=r.returncode) from None
    info["exit_code"] = r.returncode
    return info


def plugin_path() -> Path:
    """Builds (cached) and returns the QEMU instruction-count plugin."""
    h = hashlib.sha256()
    _hash_files(h, _tree(PLUGIN_DIR, (".c", ".h")))
    out = BUILD_ROOT / f"plugin-{h.hexdigest()[:16]}"
    so = out / "libmcu_insn_count.so"
    with _locked(out):
        if not so.exists():
            out.mkdir(parents=True, exist_ok=True)
            r = _run([_tool("gcc"), "-O2", "-Wall", "-std=gnu11", "-shared", "-fPIC", "-fvisibility=hidden",
                      "-o", str(so), str(PLUGIN_DIR / "mcu_insn_count.c")])
            if r.returncode != 0:
                raise McuBuildError("plugin build failed:\n" + r.stderr)
    return so


@dataclass
class Firmware:
    elf: Path
    board: str
    runtime: str
    pte_region: str
    info: dict[str, Any]
    sections: dict[str, dict[str, int]] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)  # bytes per region: FLASH RAM QSPI SDRAM
    kernels: str = "cm7"
    frame_region: str = "SDRAM"


def _sections(elf: Path) -> dict[str, dict[str, int]]:
    r = _run([_tool("arm-none-eabi-objdump"), "-h", str(elf)])
    out: dict[str, dict[str, int]] = {}
    lines = r.stdout.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+2\*\*\d+", line)
        if not m:
            continue
        flags = lines[i + 1] if i + 1 < len(lines) else ""
        if "ALLOC" not in flags:
            continue
        out[m.group(1)] = {"size": int(m.group(2), 16), "vma": int(m.group(3), 16), "lma": int(m.group(4), 16),
                           "load": int("LOAD" in flags)}
    return out


def _usage(board: str, sections: dict[str, dict[str, int]]) -> dict[str, int]:
    """Bytes per region as the linker counts them (--print-memory-usage): from the region's origin to the end of the
    last section placed there, alignment padding included. A section counts where it lives at run time (VMA) and,
    if it has contents, where its load image is stored (LMA: .data's initial values occupy flash)."""
    use = {name: 0 for name in REGIONS[board]}
    for s in sections.values():
        for addr in {s["vma"], s["lma"] if s["load"] else s["vma"]}:
            for name, (start, length) in REGIONS[board].items():
                if start <= addr < start + length and s["size"] > 0:
                    use[name] = max(use[name], addr + s["size"] - start)
    return use


KERNELS = ("cm7", "ref")
FRAME_REGIONS = ("SDRAM", "RAM")


def build_firmware(pte_path: str | Path, *, board: str = "qemu-mps2-an500", arena_bytes: int | None = None,
                   stack_bytes: int = 8192, pte_region: str = "auto", runtime: str = "auto", kernels: str = "cm7",
                   frame_region: str = "SDRAM") -> Firmware:
    """Builds (or reuses) the firmware for one `.pte`. arena_bytes overrides the plan's arena (tests use it to go
    over budget on purpose). pte_region: FLASH, QSPI or auto (FLASH when it fits, else QSPI).
    kernels: cm7 (the Cortex-M7 DSP kernels, runtime/src/kernels/cm7) or ref (the scalar reference kernels), for
    the DSP-against-scalar comparison. frame_region: where the input frame buffer lives: SDRAM (a camera frame
    outside the 320 KB) or RAM (the input counts against the SRAM budget, as in MCUFormer's setting of an int8
    image the model may overwrite: MCUFormerPartitioner(overwrite_input=True))."""
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; known: {sorted(BOARDS)}")
    if kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}, not {kernels!r}")
    frame_region = frame_region.upper()
    if frame_region not in FRAME_REGIONS:
        raise ValueError(f"frame_region must be one of {FRAME_REGIONS}, not {frame_region!r}")
    board_dir = BOARDS[board]
    runtime = _resolve_runtime(runtime)
    pte_path = Path(pte_path)
    info = pte_info(pte_path, runtime)
    if info.get("error", 1) != 0 or info.get("model_status", 1) != 0:
        # The firmware would reject it too; still build and run it so the device reports the same error.
        info.setdefault("arena_bytes", 16)
        info.setdefault("inputs", [4])
        info.setdefault("outputs", [4])
        info.setdefault("input_dtypes", [2] * len(info["inputs"]))
        info.setdefault("output_dtypes", [2] * len(info["outputs"]))
    frame = _io_bytes(info["inputs"], info["input_dtypes"])
    output = _io_bytes(info["outputs"], info["output_dtypes"])
    arena = int(info["arena_bytes"] if arena_bytes is None else arena_bytes)

    src_hash = _sources_hash(runtime)
    pte_bytes = pte_path.read_bytes()
    pte_hash = hashlib.sha256(pte_bytes).hexdigest()[:16]
    build_dir = BUILD_ROOT / f"fw-{board_dir}-{runtime}-{kernels}-{src_hash}"
    regions = ["FLASH", "QSPI"] if pte_region == "auto" else [pte_region.upper()]
    last_err: McuBudgetError | None = None
    for region in regions:
        key = f"{pte_hash}-a{arena}-f{frame}-o{output}-s{stack_bytes}-{region}-frame{frame_region}"
        elf = build_dir / "elf" / f"{key}.elf"
        with _locked(build_dir):
            if not elf.exists():
                model = build_dir / "model" / f"{pte_hash}.pte"
                model.parent.mkdir(parents=True, exist_ok=True)
                if not model.exists():
                    model.write_bytes(pte_bytes)
                try:
                    _cmake_build(build_dir, [
                        f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN_FILE}", f"-DMCU_BOARD={board_dir}",
                        f"-DMCU_RUNTIME={runtime}", f"-DMCU_PTE_FILE={model}", f"-DMCU_PTE_REGION={region}",
                        f"-DMCU_ARENA_BYTES={arena}", f"-DMCU_FRAME_BYTES={frame}", f"-DMCU_OUTPUT_BYTES={output}",
                        f"-DMCU_STACK_BYTES={stack_bytes}", f"-DMCU_FRAME_REGION={frame_region}",
                        f"-DMCUFORMER_KERNELS={'ref' if kernels == 'ref' else 'auto'}"], "mcu_firmware")
                except McuBudgetError as e:
                    if e.region == "FLASH" and region == "FLASH" and len(regions) > 1:
                        last_err = e
                        continue  # the .pte does not fit internal flash: link it into QSPI
                    raise
                elf.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(build_dir / "mcu_firmware.elf", elf)
        sections = _sections(elf)
        return Firmware(elf=elf, board=board, runtime=runtime, pte_region=region, info=info, sections=sections,
                        usage=_usage(board_dir, sections), kernels=kernels, frame_region=frame_region)
    assert last_err is not None
    raise last_err


def _io_bytes(numels: list[int], dtypes: list[int]) -> int:
    total = 0
    for n, d in zip(numels, dtypes):
        total = (total + 3) // 4 * 4 + int(n) * np.dtype(DTYPES[int(d)]).itemsize
    return max(total, 4)


# --------------------------------------------------------------------------------------------------------------
# Run

def _symbols_file(elf: Path, dest: Path) -> None:
    r = _run([_tool("arm-none-eabi-nm"), "-S", "-C", "--defined-only", str(elf)])
    lines = []
    for line in r.stdout.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in ("t", "T", "w", "W"):
            lines.append(f"{parts[0]} {parts[1]} {parts[3]}")
    dest.write_text("\n".join(lines) + "\n")


def _parse_json_line(stdout: str, tag: str) -> dict[str, Any] | None:
    found = None
    for line in stdout.splitlines():
        if line.startswith(tag + " "):
            try:
                found = json.loads(line[len(tag) + 1:])
            except json.JSONDecodeError:
                pass
    return found


def _pack_inputs(inputs: Any, info: dict[str, Any]) -> tuple[bytes, int]:
    """Raw input file: per sample, each input in the model's dtype, every input starting 4-byte aligned."""
    arrays = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if len(arrays) != len(info["inputs"]):
        raise ValueError(f"the model has {len(info['inputs'])} inputs, got {len(arrays)}")
    batch = None
    flat = []
    for a, numel, dt in zip(arrays, info["inputs"], info["input_dtypes"]):
        a = np.asarray(a)
        np_dt = DTYPES[int(dt)]
        if a.size == numel:
            a = a.reshape(1, numel)
        elif a.size % numel == 0 and a.shape[0] * numel == a.size:
            a = a.reshape(a.shape[0], numel)
        else:
            raise ValueError(f"input of shape {a.shape} does not hold samples of {numel} elements")
        if batch is not None and a.shape[0] != batch:
            raise ValueError("all inputs need the same batch size")
        batch = a.shape[0]
        flat.append(np.ascontiguousarray(a.astype(np_dt, copy=False)).view(np.uint8).reshape(batch, -1))
    rows = []
    for parts in zip(*flat):
        row = b""
        for p in parts:
            row += b"\0" * ((-len(row)) % 4) + p.tobytes()
        rows.append(row)
    return b"".join(rows), int(batch or 0)


def _unpack_outputs(raw: bytes, batch: int, info: dict[str, Any]) -> list[np.ndarray]:
    per = _io_bytes(info["outputs"], info["output_dtypes"])
    sample = len(raw) // batch if batch else 0
    if batch == 0 or sample * batch != len(raw) or sample < per - 3:
        raise McuError(f"output file has {len(raw)} bytes, expected {batch} samples of {per} bytes")
    outs = []
    offset = 0
    buf = np.frombuffer(raw, dtype=np.uint8).reshape(batch, sample)
    for numel, dt in zip(info["outputs"], info["output_dtypes"]):
        np_dt = np.dtype(DTYPES[int(dt)])
        offset = (offset + 3) // 4 * 4
        nb = int(numel) * np_dt.itemsize
        outs.append(np.ascontiguousarray(buf[:, offset:offset + nb]).view(np_dt).reshape(batch, int(numel)))
        offset += nb
    return outs


def run_mcu(pte_path: str | Path, inputs: Any, *, board: str = "qemu-mps2-an500", arena_bytes: int | None = None,
            stack_bytes: int = 8192, pte_region: str = "auto", runtime: str = "auto", profile: bool = True,
            timeout: float = 600.0, keep_dir: str | Path | None = None, kernels: str = "cm7",
            frame_region: str = "SDRAM") -> tuple[Any, dict[str, Any]]:
    """Builds the firmware for `pte_path` and runs every sample of `inputs` in one QEMU boot.

    inputs: an array [N, ...] (or [...] for one sample) holding N samples of the model's input, or a list of such
    arrays for a model with several inputs. Returns (outputs, summary): outputs is an array [N, numel] (a list of
    them for several outputs), summary a dict (see the keys below). Raises McuError on any failure.
    kernels / frame_region: see build_firmware."""
    if board not in RUNNABLE_BOARDS:
        raise McuError(f"board {board!r} has no emulator here: use build_firmware() to build it")
    fw = build_firmware(pte_path, board=board, arena_bytes=arena_bytes, stack_bytes=stack_bytes,
                        pte_region=pte_region, runtime=runtime, kernels=kernels, frame_region=frame_region)
    info = fw.info
    if info.get("error", 1) == 0 and info.get("model_status", 1) == 0:
        raw_in, batch = _pack_inputs(inputs, info)
    else:
        raw_in, batch = b"\0" * 4, 1  # the firmware rejects the .pte before reading any input

    run_dir = Path(keep_dir) if keep_dir else Path(tempfile.mkdtemp(prefix="mcu-run-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        (run_dir / "input.bin").write_bytes(raw_in)
        cmd = [_tool("qemu-system-arm"), "-M", "mps2-an500", "-nographic", "-monitor", "none", "-serial", "null",
               "-semihosting-config", "enable=on,target=native", "-kernel", str(fw.elf)]
        counts_path = run_dir / "counts.json"
        if profile:
            _symbols_file(fw.elf, run_dir / "symbols.txt")
            cmd += ["-plugin", f"{plugin_path()},symbols={run_dir / 'symbols.txt'},out={counts_path}"]
        try:
            r = _run(cmd, cwd=run_dir, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise McuTimeout(f"QEMU did not finish within {timeout} s", log=str(e.stdout or "")) from None
        log = r.stdout + r.stderr
        fw_summary = _parse_json_line(r.stdout, "MCU_SUMMARY") or {}
        if r.returncode != 0:
            err = _parse_json_line(r.stdout, "MCU_ERROR") or {}
            message = err.get("message") or describe_exit_code(r.returncode)
            raise McuError(message, code=r.returncode, log=log)
        if not fw_summary:
            raise McuError("the firmware printed no summary", code=r.returncode, log=log)
        outputs = _unpack_outputs((run_dir / "output.bin").read_bytes(), batch, info)
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
        "ram_budget_bytes": REGIONS[BOARDS[fw.board]]["RAM"][1],
        "flash_bytes": fw.usage["FLASH"],      # internal flash: vectors, code, rodata, .data image (+ .pte if FLASH)
        "flash_budget_bytes": REGIONS[BOARDS[fw.board]]["FLASH"][1],
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


# --------------------------------------------------------------------------------------------------------------
# CLI: mcuformer run-mcu MODEL.pte --input IN.npy --output OUT.npy [--json SUMMARY.json]

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mcuformer run-mcu", description="Run a .pte on the emulated Cortex-M7.")
    ap.add_argument("pte", help="the .pte (one MCUFormerBackend delegate call)")
    ap.add_argument("--input", required=True, help=".npy: [N, ...] samples (or one sample)")
    ap.add_argument("--output", help=".npy to write the outputs to ([N, numel])")
    ap.add_argument("--json", help="write the summary as JSON here")
    ap.add_argument("--board", default="qemu-mps2-an500", choices=sorted(BOARDS))
    ap.add_argument("--arena-bytes", type=int, help="override the plan's arena size")
    ap.add_argument("--stack-bytes", type=int, default=8192)
    ap.add_argument("--pte-region", default="auto", choices=["auto", "FLASH", "QSPI"])
    ap.add_argument("--runtime", default="auto", choices=["auto", "real", "stub"])
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
                                frame_region=a.frame_region)
            summary = {"board": a.board, "elf": str(fw.elf), "ram_bytes": fw.usage["RAM"],
                       "flash_bytes": fw.usage["FLASH"], "qspi_bytes": fw.usage["QSPI"], "pte_region": fw.pte_region}
        else:
            x = np.load(a.input)
            outputs, summary = run_mcu(a.pte, x, board=a.board, arena_bytes=a.arena_bytes, stack_bytes=a.stack_bytes,
                                       pte_region=a.pte_region, runtime=a.runtime, profile=not a.no_profile,
                                       timeout=a.timeout, kernels=a.kernels, frame_region=a.frame_region)
            if a.output:  # atomically (temp file + fsync + rename): a failed write leaves the previous file whole
                dest = a.output if a.output.endswith(".npy") else a.output + ".npy"  # np.save's naming
                try:
                    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
                        np.save(f, outputs)
                except OSError as e:
                    raise McuError(f"cannot write {dest}: {e}") from e
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


if __name__ == "__main__":
    sys.exit(main())
