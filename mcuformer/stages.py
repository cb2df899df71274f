"""The stages the subcommands and the main job (:mod:`mcuformer.job`) share, each checking what it is given and
raising :class:`~mcuformer.errors.UserError` for what a user can act on:

    preset(name, threads) -> the training/search recipe     budget_from_options(...) -> Budget
    check_budget(budget, recipe)    check_toolchain(...)
    load_data(dir)    stage_search(...)    stage_finetune(...)    load_model(path) -> (model, example)
    load_npy(path)    calibration(...)     stage_lower(...) -> .pte (atomic)     stage_build(pte) -> Firmware
"""
from __future__ import annotations

import hashlib
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import UserError, existing_file, find_cause, first_line
from .io import write_bytes_atomic
from .pte import ET_IDENTIFIER
from .targets import DEFAULT_BOARD

PROG = "mcuformer"
TOOLCHAIN_APT = ("gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm "
                 "cmake")


def log(msg: str) -> None:
    print(f"[{PROG}] {msg}", file=sys.stderr, flush=True)


def sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def with_ticker(desc: str, fn: Callable[[], Any], progress: bool = True) -> Any:
    """Runs fn() while a tqdm bar counts the seconds (for long single calls: lowering, a firmware build)."""
    import threading  # noqa: PLC0415

    from tqdm import tqdm  # noqa: PLC0415

    if not progress:
        return fn()
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = e

    t = threading.Thread(target=work, daemon=True)
    start = time.time()
    t.start()
    with tqdm(desc=desc, unit="s", bar_format="{desc}: {elapsed} elapsed", leave=False, dynamic_ncols=True) as bar:
        while t.is_alive():
            t.join(0.5)
            bar.update(0)
            bar.refresh()
    if "error" in result:
        raise result["error"]
    log(f"    {desc}: {time.time() - start:.0f} s")
    return result.get("value")


# ---------------------------------------------------------------------------------------------------------------
# Checks that come before any work


def check_toolchain(tools: Sequence[str] = ("arm-none-eabi-gcc", "qemu-system-arm", "cmake")) -> None:
    """Raises UserError naming the first missing tool and how to install it."""
    for tool in tools:
        if shutil.which(tool) is None:
            raise UserError(f"{tool} not found on PATH: install it with `sudo apt-get install -y "
                            f"--no-install-recommends {TOOLCHAIN_APT}` (or run scripts/setup.sh)")


def busy_cores(sample_s: float = 0.5, stat: str = "/proc/stat") -> float | None:
    """How many cores other work keeps busy now: the non-idle share of all CPU time over ``sample_s`` seconds
    (from /proc/stat) times the core count; None where /proc/stat cannot be read."""

    def read() -> tuple[int, int]:
        with open(stat) as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + (v[4] if len(v) > 4 else 0)  # total, idle + iowait

    try:
        t0, i0 = read()
        time.sleep(sample_s)
        t1, i1 = read()
    except (OSError, ValueError, IndexError):
        return None
    if t1 <= t0:
        return None
    return (os.cpu_count() or 1) * (1.0 - (i1 - i0) / (t1 - t0))


def auto_threads() -> int | None:
    """torch CPU threads when --threads is not given: 1 when other work already keeps half the cores busy (on a
    shared 2-core machine, 2 threads were measured 2.5x slower per training step than 1), else torch's default
    (on an idle 2-core machine 2 threads train 1.6x faster than 1: 454 vs 750 ms per supernet step). Measured now,
    not by the load average: that still reads ~2 for a minute after scripts/setup.sh or a test run on an idle
    machine."""
    busy = busy_cores()
    cores = os.cpu_count() or 1
    return None if busy is None or busy < 0.5 * cores else 1


def preset(name: str, threads: int | None):
    """The training/search recipe ('main' or 'benchmark') with its torch thread count (auto_threads if None)."""
    from dataclasses import replace  # noqa: PLC0415

    from mcuformer.nas import pipeline as P  # noqa: PLC0415

    recipe = {"main": P.MAIN_JOB, "benchmark": P.BENCHMARK}[name]
    if threads is None:
        threads = auto_threads()
    if threads:
        recipe = replace(recipe, supernet=replace(recipe.supernet, num_threads=threads),
                         finetune=replace(recipe.finetune, num_threads=threads))
    return recipe


DEFAULT_SRAM = 64 * 1024  # the main job's SRAM budget when neither --board nor --sram is given
# The main job's latency budget (`run`, `search`; `--latency-ms none` lifts it): on the F746 at 28 px it binds (the
# main job's pick uses all of it) and rules out patch 2 (its smallest sub-net needs ~73 ms with the board's tiles).
DEFAULT_LATENCY_MS = 50.0


def budget_from_options(board: str | None, sram: int | None = None, flash: int | None = None,
                        latency_ms: float | None = None):
    """The search's Budget from the command line: the board's (mcuformer.targets: its SRAM less the firmware's own,
    its flash, its clock), each overridden by an explicit --sram / --flash / --latency-ms. Without --board the
    STM32F746's flash and clock, and the main job's 64 KB SRAM unless --sram says otherwise."""
    from mcuformer.nas.search.common import Budget  # noqa: PLC0415

    if latency_ms is not None and not latency_ms > 0:
        raise UserError(f"--latency-ms must be a positive number of milliseconds, not {latency_ms:g}")
    if sram is None and board is None:
        sram = DEFAULT_SRAM
    try:
        return Budget.for_board(board or DEFAULT_BOARD, sram, flash, latency_ms)
    except ValueError as e:  # targets.board(): "unknown board ...; known: ..."
        raise UserError(str(e)) from None


def check_budget(budget, recipe) -> None:
    """Fails early (before loading data or training) when even the smallest sub-net the search may pick breaks a
    constraint of ``budget`` (a nas Budget), naming which and what it needs: the backend's planner (plan_vit) and
    predictors decide, as they do in the search."""
    from mcuformer.nas.pipeline import training_region  # noqa: PLC0415
    from mcuformer.nas.predictors.memory import planner_predictor  # noqa: PLC0415

    arch = recipe.space.smallest(training_region(recipe))
    need = planner_predictor(latency=budget.latency_ms is not None, sram_budget=budget.sram_bytes)(arch)
    broken = budget.violations(need)
    if broken:
        ms = budget.latency_of(need)
        ms_up = math.ceil((ms or 0) * 100) / 100  # rounded up: the option it names must be enough
        said = {"sram": (f"{budget.sram_bytes:,d} B SRAM", f"--sram {need.min_sram_bytes}"),  # (limit, option)
                "flash": (f"{budget.flash_bytes or 0:,d} B flash", f"--flash {need.flash_bytes}"),
                "latency": (f"{budget.latency_ms or 0:g} ms", f"--latency-ms {ms_up:.2f}")}
        raise UserError(
            f"no sub-net of {recipe.space.name} meets the {' and '.join(broken)} budget"
            f"{'s' if len(broken) > 1 else ''} ({' / '.join(said[k][0] for k in broken)}): the smallest "
            f"({arch.short()}) needs {need.min_sram_bytes:,d} B SRAM and {need.flash_bytes:,d} B flash"
            + (f" and {ms:.2f} ms at {budget.clock_hz / 1e6:g} MHz" if ms is not None else "")
            + f" by the backend's planner and predictors; use {' and '.join(said[k][1] for k in broken)} or more")


def load_data(path: str | None, img_size: int | None = None):
    """Fashion-MNIST (default) or the user's data set (an image folder or an .npz: nas.data.load_data)."""
    from mcuformer.nas.data import DataError, DatasetMissing, load_data as load  # noqa: PLC0415

    try:
        return load(path, img_size=img_size)
    except (DatasetMissing, DataError) as e:
        raise UserError(str(e)) from None


def recipe_for_data(recipe, data):
    """The recipe's space at the data set's image shape and class count (patch sizes scaled to keep the grids)."""
    from mcuformer.nas.pipeline import preset_for_data  # noqa: PLC0415

    try:
        return preset_for_data(recipe, data.image_shape, len(data.classes))
    except ValueError as e:
        raise UserError(str(e)) from None


# ---------------------------------------------------------------------------------------------------------------
# Search and training (their checkpoints resume themselves, in out/nas)


def search_path(out: Path, budget: int) -> Path:
    return out / "nas" / f"search_{budget}.json"


def ft_dir(out: Path, budget: int) -> Path:
    return out / "nas" / f"ft_{budget}"


def stage_search(out: Path, budget, epochs: int | None, recipe, data, seed: int, reuse: bool = True):
    """NAS under ``budget`` (a nas Budget: SRAM, flash, latency at a clock): trains (or resumes) the supernet in
    out/nas, evolves the space, searches. Reuses a finished search for the same budgets whose supernet is still
    there."""
    from mcuformer.nas import pipeline as P  # noqa: PLC0415
    from mcuformer.nas.space import NoFeasibleArch  # noqa: PLC0415

    path = search_path(out, budget.sram_bytes)
    if reuse and path.exists():
        res = P.SearchResult.load(path)
        if res.budget == budget and res.supernet_path and Path(res.supernet_path).exists():
            log(f"search: reusing {path} ({res.arch.short()})")
            return res
    check_budget(budget, recipe)
    try:
        return P.search(budget, epochs=epochs, out_dir=out / "nas", preset=recipe, data=data, seed=seed)
    except NoFeasibleArch as e:
        raise UserError(str(e)) from None


def stage_finetune(out: Path, res, epochs: int | None, recipe, data, seed: int):
    from mcuformer.nas import pipeline as P  # noqa: PLC0415

    return P.finetune_searched(res, epochs, preset=recipe, data=data, seed=seed,
                               out_dir=ft_dir(out, res.budget.sram_bytes))


# ---------------------------------------------------------------------------------------------------------------
# Models in: a fine-tuned checkpoint or a torch.export program


def load_checkpoint_vit(path: Path):
    """A fine-tuned checkpoint (finetune.pt or its folder) -> the standalone ViT."""
    from mcuformer.nas.checkpoint import CheckpointError  # noqa: PLC0415
    from mcuformer.nas.train import load_vit  # noqa: PLC0415

    if path.is_dir():
        path = existing_file(path / "finetune.pt", "checkpoint")
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] == ET_IDENTIFIER:
        raise UserError(f"{str(path)!r} is an ExecuTorch program (.pte), already lowered: give the fine-tuned "
                        "checkpoint (finetune.pt) or its torch.export .pt2")
    try:
        return load_vit(path)
    except (CheckpointError, KeyError, RuntimeError, ValueError) as e:
        raise UserError(f"{str(path)!r} is not a fine-tuned MCUFormer checkpoint: {first_line(e)}") from None


def load_model(path: Path):
    """A fine-tuned checkpoint (finetune.pt or its folder) -> (ViT, example); a .pt2 -> (ExportedProgram, example)."""
    import torch  # noqa: PLC0415

    if path.suffix == ".pt2" and path.is_file():
        try:
            ep = torch.export.load(str(path))
        except Exception as e:  # noqa: BLE001 - any failure to read is the file's fault
            raise UserError(f"{str(path)!r} is not a torch.export program (.pt2): {first_line(e)}") from None
        example = tuple(torch.zeros(tuple(n.meta["val"].shape), dtype=n.meta["val"].dtype)
                        for n in ep.graph.nodes if n.op == "placeholder" and n.name in ep.graph_signature.user_inputs)
        return ep, example
    vit = load_checkpoint_vit(path)
    a = vit.arch
    return vit, (torch.zeros(1, a.in_chans, a.img_size, a.img_size),)


def calibration(example: tuple, n: int, data_path: str | None, data=None, img_size: int | None = None) -> list:
    """n calibration samples: training images of the data set (``data``, ``--data``, or Fashion-MNIST for a
    1 x 28 x 28 input), else standard normal noise."""
    import torch  # noqa: PLC0415

    from mcuformer.nas.data import calibration_images  # noqa: PLC0415

    shape = tuple(example[0].shape)
    if data is None and (data_path is not None or shape == (1, 1, 28, 28)):
        data = load_data(data_path, img_size)
    if len(example) == 1 and data is not None:
        if shape == (1,) + data.image_shape:
            return [(x,) for x in calibration_images(data, n)]
        if data_path is not None:
            raise UserError(f"the model takes {shape[1:]} inputs but {data_path} has {data.image_shape} images "
                            "(C x H x W): pass --img-size or another --data")
    log(f"lower: no data set of {shape} images: calibrating on standard normal noise (pass --data)")
    g = torch.Generator().manual_seed(0)
    return [tuple(torch.randn(t.shape, generator=g).to(t.dtype) for t in example) for _ in range(n)]


def load_npy(path: str):
    """One array from a .npy file (run-mcu's --input), without unpickling anything."""
    import pickle  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    p = existing_file(path, "input")
    try:
        x = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError, pickle.UnpicklingError) as e:
        raise UserError(f"input {str(p)!r} is not a .npy array: {first_line(e)}") from None
    if not isinstance(x, np.ndarray):  # an .npz archive
        raise UserError(f"input {str(p)!r} is an .npz archive: give one array as .npy (np.save)")
    return x


# ---------------------------------------------------------------------------------------------------------------
# Lowering and the firmware


def stage_lower(model, example: tuple, calib: list, pte_path: Path, overwrite_input: bool = False,
                legacy: bool = False, allow_undelegated: bool = False, int8_input: bool = False,
                sram_budget: int | None = None) -> dict[str, Any]:
    """quantize (PT2E, MCUFormerQuantizer) -> partition + lower (MCUFormerPartitioner) -> .pte, written atomically.
    sram_budget: MCUFormerPartitioner's (token loops in the tiles that fit it; None: the default board's; the main
    job gives the search's, so the .pte is what the search predicted). Raises UserError naming every node the
    backend rejected, and why."""
    import torch  # noqa: PLC0415
    from tqdm import tqdm  # noqa: PLC0415

    from mcuformer.backend.lowering import LoweringError  # noqa: PLC0415
    from mcuformer.backend.pipeline import lower, quantize  # noqa: PLC0415

    t0 = time.time()
    calib_iter = tqdm(calib, desc="quantize (calibration)", unit="img", leave=False, dynamic_ncols=True)
    try:
        if isinstance(model, torch.export.ExportedProgram):  # from a .pt2: already exported, quantize its module
            from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e  # noqa: PLC0415

            from mcuformer.backend import MCUFormerQuantizer  # noqa: PLC0415

            prepared = prepare_pt2e(model.module(check_guards=False), MCUFormerQuantizer())
            with torch.no_grad():
                for c in calib_iter:
                    prepared(*c)
            q = convert_pt2e(prepared)
        else:
            q = quantize(model, example, (c[0] if len(c) == 1 else c for c in calib_iter))
    except Exception as e:  # noqa: BLE001 - export/quantization failures are about the user's model
        raise UserError(f"cannot export/quantize the model: {first_line(e)}") from None
    log("lower: partitioning and lowering (MCUFormerPartitioner -> MCUFormerBackend.preprocess)")
    try:
        lowered = with_ticker("lower (partition, IR, passes, plan, serialize)",
                              lambda: lower(q, example, overwrite_input=overwrite_input, legacy=legacy,
                                            int8_input=int8_input, sram_budget=sram_budget))
    except LoweringError as e:
        raise UserError(f"unsupported by MCUFormerBackend: {first_line(e)}") from None
    except Exception as e:  # noqa: BLE001 - a LoweringError wrapped by ExecuTorch's to_backend
        cause = find_cause(e, LoweringError)
        if cause is None:
            raise
        raise UserError(f"unsupported by MCUFormerBackend: {first_line(cause)}") from None
    left = lowered.undelegated_ops()
    rejected = dict(lowered.partitioner.rejections)
    if left and not allow_undelegated:
        why = "; ".join(f"{n}: {rejected.get(n, 'not taken by the partitioner')}" for n in left[:8])
        more = f" (and {len(left) - 8} more)" if len(left) > 8 else ""
        raise UserError(f"{len(left)} operator(s) stay outside the MCUFormer delegate, so the firmware cannot run "
                        f"this model: {why}{more}. Pass --allow-undelegated to write the .pte anyway")
    pte = lowered.to_pte()
    write_bytes_atomic(pte_path, pte)
    return {"pte": str(pte_path), "pte_bytes": len(pte), "undelegated": left, "rejections": rejected,
            "delegates": len(lowered.delegate_blobs()), "seconds": round(time.time() - t0, 1),
            "input_qparams": list(lowered.input_qparams) if lowered.input_qparams else None}


def firmware_error(e: Exception, doing: str) -> UserError:
    """A firmware build or QEMU failure (mcuformer.mcu) as the one line the user sees."""
    from mcuformer import mcu  # noqa: PLC0415

    if isinstance(e, mcu.McuBudgetError):
        return UserError(f"firmware over budget: region {e.region} overflowed by {e.overflow_bytes:,d} bytes")
    return UserError(f"{doing} failed: {first_line(e)}")


def stage_build(pte: Path, board: str = "qemu-mps2-an500", target: str = DEFAULT_BOARD, **kw):
    """The Cortex-M7 firmware for a verified .pte (mcuformer.mcu.build_firmware, cached by content hash), its linker
    script holding `target`'s SRAM and flash (a mcuformer.targets board)."""
    from mcuformer import mcu  # noqa: PLC0415

    try:
        mcu.regions(board, target)
    except ValueError as e:
        raise UserError(str(e)) from None
    check_toolchain(("arm-none-eabi-gcc", "cmake") + (("qemu-system-arm",) if board in mcu.RUNNABLE_BOARDS else ()))
    kw["target"] = target
    try:
        return with_ticker(f"build firmware ({board}, cached by content hash)",
                           lambda: mcu.build_firmware(pte, board=board, **kw))
    except mcu.McuError as e:
        raise firmware_error(e, "firmware build") from None
