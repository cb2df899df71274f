"""Firmware build: the host tools (pte_info) and the firmware for one `.pte`, cached by content hash (build/mcu/)."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .. import targets
from ..paths import build_root, source_root
from .errors import McuBudgetError, McuBuildError, McuError
from .parse import io_bytes

SOURCE_ROOT = source_root()  # the checkout, or the installed package (mcuformer/paths.py)
FIRMWARE_DIR = SOURCE_ROOT / "examples" / "stm32f746"
TOOLCHAIN_FILE = SOURCE_ROOT / "runtime" / "cmake" / "arm-none-eabi.cmake"
BUILD_ROOT = build_root() / "mcu"

BOARDS = {"qemu-mps2-an500": "qemu_mps2_an500", "stm32f746": "stm32f746"}
# The MCUs (mcuformer.targets) whose SRAM and flash each board's linker script may enforce: QEMU's map holds any of
# them; the real board is an STM32F746.
TARGETS = {"qemu-mps2-an500": tuple(targets.BOARDS), "stm32f746": ("stm32f746",)}
QEMU_LOW_RAM = 4 << 20  # mps2-an500's RAM at 0x0: the FLASH budget, then the SDRAM stand-in


def regions(board: str, target: str = "stm32f746") -> dict[str, tuple[int, int]]:
    """(origin, length) of each linker region of `board`'s firmware with `target`'s budgets (boards/*/linker.ld)."""
    if target not in TARGETS[board]:
        raise ValueError(f"board {board!r} cannot carry the budgets of {target!r}; it takes: "
                         f"{', '.join(TARGETS[board])}")
    t = targets.board(target)
    if board == "stm32f746":
        return {"FLASH": (0x08000000, t.flash_bytes), "RAM": (0x20000000, t.sram_bytes),
                "QSPI": (0x90000000, 16 << 20), "SDRAM": (0xC0000000, 8 << 20)}
    return {"FLASH": (0x00000000, t.flash_bytes), "RAM": (0x20000000, t.sram_bytes),
            "QSPI": (0x60000000, 16 << 20), "SDRAM": (t.flash_bytes, QEMU_LOW_RAM - t.flash_bytes)}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise McuBuildError(f"'{name}' not found: run scripts/setup.sh (gcc-arm-none-eabi, qemu-system-arm, cmake)")
    return path


def hash_files(h: "hashlib._Hash", paths: list[Path]) -> None:
    for p in sorted(paths):
        h.update(str(p.relative_to(SOURCE_ROOT)).encode())
        h.update(p.read_bytes())


def tree(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_file() and p.suffix in suffixes]


def _sources_hash(runtime: str) -> str:
    """Hash of everything a firmware or host-tool build depends on."""
    h = hashlib.sha256()
    h.update(runtime.encode())
    code = (".c", ".cc", ".cpp", ".h", ".hpp", ".S", ".ld", ".txt", ".cmake", ".fbs")
    hash_files(h, tree(FIRMWARE_DIR, code) + [TOOLCHAIN_FILE])
    if runtime == "real":
        hash_files(h, tree(SOURCE_ROOT / "runtime", code))
        schema = SOURCE_ROOT / "backend" / "serialization" / "schema.fbs"
        if schema.exists():
            hash_files(h, [schema])
    return h.hexdigest()[:16]


class StubRuntimeWarning(UserWarning):
    """A build links the TEST-ONLY stub runtime: its numbers say nothing about a real model."""


RUNTIMES = ("real", "stub")


def _resolve_runtime(runtime: str) -> str:
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, not {runtime!r}")
    if runtime == "stub":
        warnings.warn("building with the TEST-ONLY stub runtime (examples/stm32f746/tests/stub_runtime.cpp), "
                      "not runtime/", StubRuntimeWarning)  # one location: printed once per process
    return runtime


def _runtime_args(runtime: str) -> list[str]:
    return [f"-DMCU_STUB_RUNTIME={'ON' if runtime == 'stub' else 'OFF'}"]


@contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_cmd(cmd: list[str], cwd: Path | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # The venv's bin (with the executorch wheel's flatc 25.x) must not shadow Debian's flatc 2.0.8.
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _cmake_build(build_dir: Path, configure_args: list[str], target: str) -> str:
    cmake = tool("cmake")
    log = ""
    from ..backend.runtime_loader import executorch_root  # noqa: PLC0415 (imported when a build runs)

    # the .pte reader's schema comes from the executorch wheel this interpreter runs (a checkout or an install)
    schema = f"-DMCU_ET_SCHEMA_DIR={executorch_root() / 'schema'}"
    r = run_cmd([cmake, "-S", str(FIRMWARE_DIR), "-B", str(build_dir), schema, *configure_args])
    log += r.stdout + r.stderr
    if r.returncode != 0:
        raise McuBuildError("cmake configure failed:\n" + log[-4000:], log=log)
    r = run_cmd([cmake, "--build", str(build_dir), "--target", target, "-j", str(os.cpu_count() or 2)])
    log += r.stdout + r.stderr
    if r.returncode != 0:
        m = re.search(r"region [`'](\w+)' overflowed by (\d+) bytes", log)
        if m:
            raise McuBudgetError(m.group(1), int(m.group(2)), log=log)
        raise McuBuildError("build failed:\n" + log[-4000:], log=log)
    return log


def host_tools(runtime: str = "real") -> Path:
    """Builds the host tools (pte_info, pte_loader_mutations); returns their build folder."""
    runtime = _resolve_runtime(runtime)
    build_dir = BUILD_ROOT / f"host-{runtime}-{_sources_hash(runtime)}"
    with locked(build_dir):
        if not (build_dir / "pte_info").exists() or not (build_dir / "pte_loader_mutations").exists():
            _cmake_build(build_dir, ["-DCMAKE_BUILD_TYPE=Release", *_runtime_args(runtime)], "all")
    return build_dir


def pte_info(pte_path: str | Path, runtime: str = "real") -> dict[str, Any]:
    """What the firmware's loader and runtime (host build, same sources) read from a .pte."""
    tools = host_tools(runtime)
    r = run_cmd([str(tools / "pte_info"), str(pte_path)])
    try:
        info = json.loads(r.stdout)
    except json.JSONDecodeError:
        raise McuError(f"pte_info failed: {r.stdout}{r.stderr}", code=r.returncode) from None
    info["exit_code"] = r.returncode
    return info


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
    target: str = "stm32f746"  # the MCU whose SRAM and flash the linker enforced (mcuformer.targets)
    regions: dict[str, tuple[int, int]] = field(default_factory=dict)  # (origin, length) per linker region


def _sections(elf: Path) -> dict[str, dict[str, int]]:
    r = run_cmd([tool("arm-none-eabi-objdump"), "-h", str(elf)])
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


def _usage(regs: dict[str, tuple[int, int]], sections: dict[str, dict[str, int]]) -> dict[str, int]:
    """Bytes per region as the linker counts them (--print-memory-usage): from the region's origin to the end of the
    last section placed there, alignment padding included. A section counts where it lives at run time (VMA) and,
    if it has contents, where its load image is stored (LMA: .data's initial values occupy flash)."""
    use = {name: 0 for name in regs}
    for s in sections.values():
        for addr in {s["vma"], s["lma"] if s["load"] else s["vma"]}:
            for name, (start, length) in regs.items():
                if start <= addr < start + length and s["size"] > 0:
                    use[name] = max(use[name], addr + s["size"] - start)
    return use


KERNELS = ("cm7", "ref")
FRAME_REGIONS = ("SDRAM", "RAM")


def build_firmware(pte_path: str | Path, *, board: str = "qemu-mps2-an500", arena_bytes: int | None = None,
                   stack_bytes: int = 8192, pte_region: str = "auto", runtime: str = "real", kernels: str = "cm7",
                   frame_region: str = "SDRAM", target: str = "stm32f746") -> Firmware:
    """Builds (or reuses) the firmware for one `.pte`. arena_bytes overrides the plan's arena (tests use it to go
    over budget on purpose). pte_region: FLASH, QSPI or auto (FLASH when it fits, else QSPI).
    kernels: cm7 (the Cortex-M7 DSP kernels, runtime/src/kernels/cm7) or ref (the scalar reference kernels), for
    the DSP-against-scalar comparison. frame_region: where the input frame buffer lives: SDRAM (a camera frame
    outside the 320 KB) or RAM (the input counts against the SRAM budget, as in MCUFormer's setting of an int8
    image the model may overwrite: MCUFormerPartitioner(overwrite_input=True)). target: the MCU
    (mcuformer.targets) whose SRAM and flash the linker script enforces; QEMU's board takes any of them."""
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; known: {sorted(BOARDS)}")
    regs = regions(board, target)
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
    frame = io_bytes(info["inputs"], info["input_dtypes"])
    output = io_bytes(info["outputs"], info["output_dtypes"])
    arena = int(info["arena_bytes"] if arena_bytes is None else arena_bytes)

    src_hash = _sources_hash(runtime)
    pte_bytes = pte_path.read_bytes()
    pte_hash = hashlib.sha256(pte_bytes).hexdigest()[:16]
    build_dir = BUILD_ROOT / f"fw-{board_dir}-{runtime}-{kernels}-{src_hash}"
    pte_regions = ["FLASH", "QSPI"] if pte_region == "auto" else [pte_region.upper()]
    last_err: McuBudgetError | None = None
    for region in pte_regions:
        key = f"{pte_hash}-a{arena}-f{frame}-o{output}-s{stack_bytes}-{region}-frame{frame_region}-{target}"
        elf = build_dir / "elf" / f"{key}.elf"
        with locked(build_dir):
            if not elf.exists():
                model = build_dir / "model" / f"{pte_hash}.pte"
                model.parent.mkdir(parents=True, exist_ok=True)
                if not model.exists():
                    model.write_bytes(pte_bytes)
                try:
                    _cmake_build(build_dir, [
                        f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN_FILE}", f"-DMCU_BOARD={board_dir}",
                        *_runtime_args(runtime), f"-DMCU_PTE_FILE={model}", f"-DMCU_PTE_REGION={region}",
                        f"-DMCU_ARENA_BYTES={arena}", f"-DMCU_FRAME_BYTES={frame}", f"-DMCU_OUTPUT_BYTES={output}",
                        f"-DMCU_STACK_BYTES={stack_bytes}", f"-DMCU_FRAME_REGION={frame_region}",
                        f"-DMCU_FLASH_BYTES={regs['FLASH'][1]}", f"-DMCU_RAM_BYTES={regs['RAM'][1]}",
                        f"-DMCUFORMER_KERNELS={'ref' if kernels == 'ref' else 'auto'}"], "mcu_firmware")
                except McuBudgetError as e:
                    if e.region == "FLASH" and region == "FLASH" and len(pte_regions) > 1:
                        last_err = e
                        continue  # the .pte does not fit internal flash: link it into QSPI
                    raise
                elf.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(build_dir / "mcu_firmware.elf", elf)
        sections = _sections(elf)
        return Firmware(elf=elf, board=board, runtime=runtime, pte_region=region, info=info, sections=sections,
                        usage=_usage(regs, sections), kernels=kernels, frame_region=frame_region, target=target,
                        regions=regs)
    assert last_err is not None
    raise last_err
