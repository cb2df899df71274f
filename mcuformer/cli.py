"""`mcuformer`: every stage of the product from the command line, and `mcuformer run`, the main job.

    mcuformer run                              # search -> fine-tune -> quantize -> lower -> plan -> firmware -> QEMU
    mcuformer search --budget 64KB             # NAS under an SRAM budget (trains the supernet if needed)
    mcuformer train supernet | finetune        # one training stage on its own (resumable)
    mcuformer export CKPT -o model.pt2         # torch.export of a fine-tuned sub-net
    mcuformer lower CKPT|model.pt2 -o model.pte
    mcuformer memory model.pte --png mem.png   # arena, live-set bound, layout
    mcuformer build model.pte                  # Cortex-M7 firmware (cached by content hash)
    mcuformer run-mcu model.pte --input x.npy  # run in QEMU with exact instruction counts
    mcuformer report                           # out/report/index.html from what `run` wrote

Errors a user can act on (no data set, a budget nothing meets, an unsupported operator, no toolchain, a bad path)
are printed as one line on stderr with a non-zero exit status; see :class:`UserError`. Every output is written
atomically (:mod:`mcuformer.io`), and `run` reuses what an earlier, interrupted run finished.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .io import atomic_path, write_bytes_atomic, write_json_atomic

PROG = "mcuformer"
DEFAULT_OUT = "out"
DEFAULT_BUDGET = "64KB"
MHZ = 216  # STM32F746 core clock

# Exit statuses
EXIT_USAGE = 2  # argparse's own
EXIT_USER = 1  # an error the user can act on (message on stderr)
EXIT_INTERRUPTED = 130

TOOLCHAIN_APT = ("gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm "
                 "cmake")


class UserError(Exception):
    """An error the user can act on: printed as `mcuformer: error: <message>`, exit status 1, no traceback."""


# ---------------------------------------------------------------------------------------------------------------
# Small helpers


def parse_size(text: str) -> int:
    """'64KB', '64K', '64KiB', '320kB', '1MB', '1.5M', '65536' -> bytes (K = 1024, M = 1024*1024, as MCU budgets)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:([kKmM])(?:i?[bB])?|[bB])?\s*", str(text))
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 64KB, 320KiB, 1MB or 65536)")
    value = float(m.group(1)) * {None: 1, "k": 1024, "m": 1024 * 1024}[(m.group(2) or "").lower() or None]
    if value != int(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"not a positive whole number of bytes: {text!r}")
    return int(value)


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n:,d} B ({n / 1024:.1f} KB)"


def _existing_file(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise UserError(f"{what} {str(p)!r} does not exist")
    if not p.is_file():
        raise UserError(f"{what} {str(p)!r} is not a file")
    return p


def _writable_dir(path: str | Path, what: str = "output folder") -> Path:
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"{what} {str(p)!r} exists and is not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {what} {str(p)!r}: {e.strerror}") from None
    if not os.access(p, os.W_OK):
        raise UserError(f"{what} {str(p)!r} is not writable")
    return p


def _out_file(path: str | Path, what: str = "output file") -> Path:
    p = Path(path)
    if p.exists() and p.is_dir():
        raise UserError(f"{what} {str(p)!r} is a folder")
    _writable_dir(p.parent if str(p.parent) else ".", f"folder of the {what}")
    return p


def check_toolchain(tools: Sequence[str] = ("arm-none-eabi-gcc", "qemu-system-arm", "cmake")) -> None:
    """Raises UserError naming the first missing tool and how to install it."""
    for tool in tools:
        if shutil.which(tool) is None:
            raise UserError(f"{tool} not found on PATH: install it with `sudo apt-get install -y "
                            f"--no-install-recommends {TOOLCHAIN_APT}` (or run scripts/setup.sh)")


def _load_data(data_dir: str | None):
    from mcuformer.nas.data import DatasetMissing, load_fashion_mnist  # noqa: PLC0415

    try:
        return load_fashion_mnist(data_dir)
    except DatasetMissing as e:
        raise UserError(str(e)) from None


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _backend_sha() -> str:
    """Hash of the ahead-of-time backend's sources (and schema): a cached .pte is reused only if it would be lowered
    the same way today."""
    root = Path(__file__).resolve().parent.parent / "backend"
    h = hashlib.sha256()
    for f in sorted(root.rglob("*")):
        if f.suffix in (".py", ".fbs") and f.is_file():
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def _log(msg: str) -> None:
    print(f"[{PROG}] {msg}", file=sys.stderr, flush=True)


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
    _log(f"    {desc}: {time.time() - start:.0f} s")
    return result.get("value")


def _preset(name: str, threads: int | None):
    from dataclasses import replace  # noqa: PLC0415

    from mcuformer.nas import pipeline as P  # noqa: PLC0415

    preset = {"main": P.MAIN_JOB, "benchmark": P.BENCHMARK}[name]
    if threads is None:
        threads = auto_threads()
    if threads:
        preset = replace(preset, supernet=replace(preset.supernet, num_threads=threads),
                         finetune=replace(preset.finetune, num_threads=threads))
    return preset


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


def check_budget(budget: int, flash_budget: int | None, preset) -> None:
    """Fails early (before loading data or training) when even the smallest sub-net the search may pick is over
    the budget, naming what it needs: the backend's planner (plan_vit) decides, as it does in the search."""
    from mcuformer.nas.pipeline import training_region  # noqa: PLC0415
    from mcuformer.nas.predictors.memory import planner_predictor  # noqa: PLC0415

    arch = preset.space.smallest(training_region(preset))
    need = planner_predictor()(arch)
    over = []
    if need.total_sram_bytes > budget:
        over.append(f"--budget {need.total_sram_bytes}")
    if flash_budget is not None and need.flash_bytes > flash_budget:
        over.append(f"--flash-budget {need.flash_bytes}")
    if over:
        raise UserError(
            f"no sub-net of {preset.space.name} fits {budget:,d} B SRAM"
            + (f" / {flash_budget:,d} B flash" if flash_budget is not None else "")
            + f": the smallest ({arch.short()}) needs {need.total_sram_bytes:,d} B SRAM and {need.flash_bytes:,d} B "
            f"flash by the backend's planner; use {' and '.join(over)} or more")


def _search_path(out: Path, budget: int) -> Path:
    return out / "nas" / f"search_{budget}.json"


def _ft_dir(out: Path, budget: int) -> Path:
    return out / "nas" / f"ft_{budget}"


# ---------------------------------------------------------------------------------------------------------------
# Stages (shared by the subcommands and by `run`)


def stage_search(out: Path, budget: int, flash_budget: int | None, epochs: int | None, preset, data, seed: int,
                 reuse: bool = True):
    """NAS: trains (or resumes) the supernet in out/nas, evolves the space, searches. Reuses a finished search."""
    from mcuformer.nas import pipeline as P  # noqa: PLC0415
    from mcuformer.nas.space import NoFeasibleArch  # noqa: PLC0415

    path = _search_path(out, budget)
    if reuse and path.exists():
        res = P.SearchResult.load(path)
        if res.budget.flash_bytes == flash_budget and res.supernet_path and Path(res.supernet_path).exists():
            _log(f"search: reusing {path} ({res.arch.short()})")
            return res
    check_budget(budget, flash_budget, preset)
    try:
        return P.search(budget, flash_budget, epochs=epochs, out_dir=out / "nas", preset=preset, data=data,
                        seed=seed)
    except NoFeasibleArch as e:
        raise UserError(str(e)) from None


def stage_finetune(out: Path, res, epochs: int | None, preset, data, seed: int):
    from mcuformer.nas import pipeline as P  # noqa: PLC0415

    return P.finetune_searched(res, epochs, preset=preset, data=data, seed=seed,
                               out_dir=_ft_dir(out, res.budget.sram_bytes))


def _load_model(path: Path):
    """A fine-tuned checkpoint (finetune.pt or its folder) -> (ViT, example); a .pt2 -> (ExportedProgram, example)."""
    import torch  # noqa: PLC0415

    if path.is_dir():
        path = path / "finetune.pt"
        _existing_file(path, "checkpoint")
    if path.suffix == ".pt2":
        try:
            ep = torch.export.load(str(path))
        except Exception as e:  # noqa: BLE001 - any failure to read is the file's fault
            raise UserError(f"{str(path)!r} is not a torch.export program (.pt2): {str(e).splitlines()[0]}") from None
        example = tuple(torch.zeros(tuple(n.meta["val"].shape), dtype=n.meta["val"].dtype)
                        for n in ep.graph.nodes if n.op == "placeholder" and n.name in ep.graph_signature.user_inputs)
        return ep, example
    from mcuformer.nas.checkpoint import CheckpointError  # noqa: PLC0415
    from mcuformer.nas.train import load_vit  # noqa: PLC0415

    try:
        vit = load_vit(path)
    except (CheckpointError, KeyError, RuntimeError, ValueError) as e:
        raise UserError(f"{str(path)!r} is not a fine-tuned MCUFormer checkpoint: {str(e).splitlines()[0]}") from None
    a = vit.arch
    return vit, (torch.zeros(1, a.in_chans, a.img_size, a.img_size),)


def _calibration(example: tuple, n: int, data_dir: str | None, data=None) -> list:
    """n calibration samples: Fashion-MNIST training images when the input is one, else standard normal noise."""
    import torch  # noqa: PLC0415

    shape = tuple(example[0].shape)
    if len(example) == 1 and shape == (1, 1, 28, 28):
        from mcuformer.nas.data import calibration_images  # noqa: PLC0415

        return [(x,) for x in calibration_images(data if data is not None else _load_data(data_dir), n)]
    _log(f"lower: input {shape} is not a Fashion-MNIST image: calibrating on standard normal noise")
    g = torch.Generator().manual_seed(0)
    return [tuple(torch.randn(t.shape, generator=g).to(t.dtype) for t in example) for _ in range(n)]


def stage_lower(model, example: tuple, calib: list, pte_path: Path, overwrite_input: bool = False,
                legacy: bool = False, allow_undelegated: bool = False, int8_input: bool = False) -> dict[str, Any]:
    """quantize (PT2E, MCUFormerQuantizer) -> partition + lower (MCUFormerPartitioner) -> .pte, written atomically.
    Raises UserError naming every node the backend rejected, and why."""
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
        raise UserError(f"cannot export/quantize the model: {_first_line(e)}") from None
    _log("lower: partitioning and lowering (MCUFormerPartitioner -> MCUFormerBackend.preprocess)")
    try:
        lowered = with_ticker("lower (partition, IR, passes, plan, serialize)",
                              lambda: lower(q, example, overwrite_input=overwrite_input, legacy=legacy,
                                            int8_input=int8_input))
    except LoweringError as e:
        raise UserError(f"unsupported by MCUFormerBackend: {_first_line(e)}") from None
    except Exception as e:  # noqa: BLE001 - a LoweringError wrapped by ExecuTorch's to_backend
        cause = _find_cause(e, LoweringError)
        if cause is None:
            raise
        raise UserError(f"unsupported by MCUFormerBackend: {_first_line(cause)}") from None
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


def _first_line(e: BaseException) -> str:
    s = str(e).strip() or type(e).__name__
    return s.splitlines()[0]


def _find_cause(e: BaseException | None, kind: type) -> BaseException | None:
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, kind):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def memory_of_pte(pte_path: Path):
    """The memory report of the (first) MCUFormer delegate inside a .pte, read back from its blob."""
    from mcuformer.backend.memory.report import blob_report, delegate_blobs  # noqa: PLC0415
    from mcuformer.backend.serialization.serialize import deserialize  # noqa: PLC0415

    blobs = delegate_blobs(pte_path.read_bytes())
    if not blobs:
        raise UserError(f"{str(pte_path)!r} holds no MCUFormerBackend delegate")
    try:
        return blob_report(deserialize(blobs[0]))
    except ValueError as e:
        raise UserError(f"{str(pte_path)!r}: {e}") from None


def stage_build(pte: Path, board: str = "qemu-mps2-an500", **kw):
    from mcuformer import mcu  # noqa: PLC0415

    check_toolchain(("arm-none-eabi-gcc", "cmake") + (("qemu-system-arm",) if board in mcu.RUNNABLE_BOARDS else ()))
    try:
        return with_ticker(f"build firmware ({board}, cached by content hash)",
                           lambda: mcu.build_firmware(pte, board=board, **kw))
    except mcu.McuBudgetError as e:
        raise UserError(f"firmware over budget: region {e.region} overflowed by {e.overflow_bytes:,d} bytes") from None
    except mcu.McuError as e:
        raise UserError(f"firmware build failed: {_first_line(e)}") from None


def stage_qemu(pte: Path, images, labels, out_dir: Path, chunk: int = 1000, progress: bool = True,
               max_seconds: float | None = None, firmware: Path | None = None,
               frame_region: str = "SDRAM") -> dict[str, Any]:
    """Runs the firmware in QEMU over `images` in chunks (each one boot, cached in out_dir by the .pte's hash, so an
    interrupted run resumes). With max_seconds, stops after the chunk that would pass it (the summary says how many
    images ran; `firmware`, the ELF, joins the cache key so a rebuilt runtime is measured afresh). Returns accuracy, mean instructions per inference, per-op counts, the firmware summary."""
    import numpy as np  # noqa: PLC0415
    from tqdm import tqdm  # noqa: PLC0415

    from mcuformer import mcu  # noqa: PLC0415

    check_toolchain()
    key = _sha(pte) + (f"-{_sha(firmware)[:8]}" if firmware is not None else "")
    out_dir.mkdir(parents=True, exist_ok=True)
    n = len(images)
    starts = list(range(0, n, chunk))
    outputs, summaries = [], []
    t0 = time.time()
    ran_seconds = 0.0
    bar = tqdm(total=n, desc="QEMU Cortex-M7 (firmware, test set)", unit="img", disable=not progress,
               dynamic_ncols=True)
    for s in starts:
        e = min(n, s + chunk)
        cache = out_dir / f"{key}_{s:05d}_{e:05d}.npz"
        meta_path = cache.with_suffix(".json")
        if cache.exists() and meta_path.exists():
            outputs.append(np.load(cache)["out"])
            summaries.append(json.loads(meta_path.read_text()))
        else:
            if max_seconds is not None and outputs and time.time() - t0 > max_seconds:
                break
            tc = time.time()
            try:
                out, summ = mcu.run_mcu(pte, images[s:e], runtime="auto", timeout=max(600.0, 0.5 * (e - s)),
                                        frame_region=frame_region)
            except mcu.McuBudgetError as err:
                raise UserError(f"firmware over budget: region {err.region} overflowed by "
                                f"{err.overflow_bytes:,d} bytes") from None
            except mcu.McuError as err:
                raise UserError(f"firmware run in QEMU failed: {_first_line(err)}") from None
            ran_seconds += time.time() - tc
            summ["seconds"] = round(time.time() - tc, 2)
            with atomic_path(cache) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, out=out)
            write_json_atomic(meta_path, summ)
            outputs.append(out)
            summaries.append(summ)
        bar.update(e - s)
    bar.close()
    out = np.concatenate(outputs) if outputs else np.zeros((0, 0))
    m = len(out)
    correct = int((out.argmax(1) == np.asarray(labels[:m])).sum()) if m else 0
    weights = [len(o) for o in outputs]
    instr = sum(s["instructions"] * w for s, w in zip(summaries, weights)) / max(1, m)
    first = summaries[0] if summaries else {}
    return {"images": m, "requested": n, "correct": correct, "top1": correct / max(1, m),
            "instructions": int(round(instr)),
            "instructions_min": min((s.get("instructions_min") or 0) for s in summaries) if summaries else None,
            "instructions_max": max((s.get("instructions_max") or 0) for s in summaries) if summaries else None,
            "per_op_instructions": first.get("per_op_instructions"),
            "per_function_instructions": first.get("per_function_instructions"),
            "ram_bytes": first.get("ram_bytes"), "ram_budget_bytes": first.get("ram_budget_bytes"),
            "flash_bytes": first.get("flash_bytes"), "flash_budget_bytes": first.get("flash_budget_bytes"),
            "qspi_bytes": first.get("qspi_bytes"), "pte_region": first.get("pte_region"),
            "arena_bytes": first.get("arena_bytes"), "stack_peak_bytes": first.get("stack_peak_bytes"),
            "canaries_ok": all(s.get("canaries_ok") for s in summaries),
            "stack_ok": all(s.get("stack_ok") for s in summaries),
            "elf": first.get("elf"), "qemu_seconds": round(sum(s.get("seconds", 0.0) for s in summaries), 1),
            "qemu_seconds_this_run": round(ran_seconds, 1)}


# ---------------------------------------------------------------------------------------------------------------
# Subcommands


def cmd_search(a: argparse.Namespace) -> int:
    preset = _preset(a.preset, a.threads)
    check_budget(a.budget, a.flash_budget, preset)
    out = _writable_dir(a.out)
    data = _load_data(a.data_dir)
    res = stage_search(out, a.budget, a.flash_budget, a.epochs, preset, data, a.seed, reuse=not a.fresh)
    print(f"searched: {res.arch.short()}  val top-1 (inherited weights) {100 * res.val_acc:.2f}%  "
          f"SRAM {fmt_bytes(res.sram_bytes)} of {fmt_bytes(a.budget)}  flash {fmt_bytes(res.flash_bytes)}  "
          f"({len(res.candidates)} candidates)")
    print(f"wrote {_search_path(out, a.budget)}")
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    from dataclasses import replace  # noqa: PLC0415

    from mcuformer.nas import pipeline as P  # noqa: PLC0415
    from mcuformer.nas.train import train_supernet  # noqa: PLC0415

    preset = _preset(a.preset, a.threads)
    out = _writable_dir(a.out)
    if a.stage == "supernet":
        data = _load_data(a.data_dir)
        cfg = replace(preset.supernet, seed=a.seed, **({"epochs": a.epochs} if a.epochs is not None else {}))
        train_supernet(preset.space, cfg, out / "nas", region=P.training_region(preset), data=data)
        print(f"wrote {out / 'nas' / 'supernet.pt'}")
        return 0
    search = _existing_file(a.search or _search_path(out, a.budget), "search result")
    try:
        res = P.SearchResult.load(search)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise UserError(f"{str(search)!r} is not a search result (from `mcuformer search`): {_first_line(e)}") from None
    if res.supernet_path is None or not Path(res.supernet_path).exists():
        raise UserError(f"the supernet checkpoint of {str(search)!r} ({res.supernet_path}) does not exist: "
                        "run `mcuformer train supernet` or `mcuformer search` first")
    data = _load_data(a.data_dir)
    vit = stage_finetune(out, res, a.epochs, preset, data, a.seed)
    print(f"fine-tuned {res.arch.short()}: fp32 test top-1 {100 * P.test_accuracy(vit, data):.2f}%")
    print(f"wrote {_ft_dir(out, res.budget.sram_bytes) / 'finetune.pt'}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415

    from mcuformer.nas.pipeline import export_subnet  # noqa: PLC0415

    ckpt = Path(a.checkpoint)
    if not ckpt.exists():
        raise UserError(f"checkpoint {str(ckpt)!r} does not exist")
    model, _ = _load_model(ckpt)
    dest = _out_file(a.output)
    ep = export_subnet(model)
    with atomic_path(dest) as tmp:
        torch.export.save(ep, str(tmp))
    print(f"exported {getattr(model, 'arch', None) and model.arch.short()} -> {dest}")
    return 0


def cmd_lower(a: argparse.Namespace) -> int:
    src = Path(a.model)
    if not src.exists():
        raise UserError(f"model {str(src)!r} does not exist")
    dest = _out_file(a.output)
    model, example = _load_model(src)
    calib = _calibration(example, a.calibration, a.data_dir)
    info = stage_lower(model, example, calib, dest, overwrite_input=a.overwrite_input, legacy=a.legacy,
                       allow_undelegated=a.allow_undelegated)
    rep = memory_of_pte(dest)
    print(f"wrote {dest} ({info['pte_bytes']:,d} B, {info['delegates']} delegate(s), "
          f"{len(info['undelegated'])} op(s) outside)  arena {fmt_bytes(rep.arena_bytes)}  "
          f"SRAM ({'input + ' if rep.input_in_sram else ''}arena) {fmt_bytes(rep.total_sram_bytes)}  "
          f"weights {fmt_bytes(rep.flash_bytes)}")
    for node, why in info["rejections"].items():
        print(f"  not delegated: {node}: {why}", file=sys.stderr)
    return 0


def cmd_memory(argv: list[str]) -> int:
    from mcuformer.backend.memory.report import memory_main  # noqa: PLC0415

    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("pte", nargs="?")
    ap.add_argument("--budget")
    known, _ = ap.parse_known_args(argv)
    if "-h" in argv or "--help" in argv:
        return memory_main(["--help"])
    argv = list(argv)
    if known.budget is not None:
        try:
            size = parse_size(known.budget)
        except argparse.ArgumentTypeError as e:
            raise UserError(str(e)) from None
        i = argv.index("--budget") if "--budget" in argv else None
        if i is not None:
            argv[i + 1] = str(size)
        else:
            argv = [x if not x.startswith("--budget=") else f"--budget={size}" for x in argv]
    if known.pte:
        _existing_file(known.pte, ".pte")
    return memory_main(argv)


def cmd_build(a: argparse.Namespace) -> int:
    pte = _existing_file(a.pte, ".pte")
    fw = stage_build(pte, a.board, arena_bytes=a.arena_bytes, stack_bytes=a.stack_bytes, pte_region=a.pte_region,
                     frame_region=a.frame_region, kernels=a.kernels)
    elf = fw.elf
    if a.output:
        dest = _out_file(a.output)
        with atomic_path(dest) as tmp:
            shutil.copyfile(fw.elf, tmp)
        elf = dest
    u = fw.usage
    print(f"firmware {elf}  board {a.board}  RAM {fmt_bytes(u.get('RAM'))} of 320 KB  "
          f"FLASH {fmt_bytes(u.get('FLASH'))} of 1 MB  QSPI {fmt_bytes(u.get('QSPI'))}  (.pte in {fw.pte_region})")
    return 0


def cmd_run_mcu(argv: list[str]) -> int:
    from mcuformer import mcu  # noqa: PLC0415

    if not ("-h" in argv or "--help" in argv):
        ap = argparse.ArgumentParser(add_help=False)
        ap.add_argument("pte", nargs="?")
        ap.add_argument("--input")
        known, _ = ap.parse_known_args(argv)
        if known.pte:
            _existing_file(known.pte, ".pte")
        if known.input:
            _existing_file(known.input, "input")
        check_toolchain()
    return mcu.main(argv)


def cmd_report(a: argparse.Namespace) -> int:
    from .report import write_report  # noqa: PLC0415

    out = Path(a.out)
    summary_path = out / "summary.json"
    if not summary_path.exists():
        raise UserError(f"{summary_path} does not exist: run `mcuformer run --out {out}` first")
    summary = json.loads(summary_path.read_text())
    path = write_report(summary, Path(a.report_dir) if a.report_dir else out / "report")
    print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# The main job


def cmd_run(a: argparse.Namespace) -> int:
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from mcuformer.backend.quant_math import quantize_f32  # noqa: PLC0415
    from mcuformer.nas import pipeline as P  # noqa: PLC0415
    from mcuformer.nas.data import normalize  # noqa: PLC0415
    from mcuformer.nas.space import macs  # noqa: PLC0415
    from mcuformer.nas.train import evaluate  # noqa: PLC0415

    t_start = time.time()
    started = os.environ.get("MCUFORMER_JOB_START", "")  # scripts/run.sh: count its set-up in the time budget
    if started.isdigit() and 0 <= t_start - int(started) < 3600:
        t_start = float(started)
    times: dict[str, float] = {}
    notes: list[str] = []

    def step(name: str, t: float) -> None:
        times[name] = round(time.time() - t, 1)

    preset = _preset(a.preset, a.threads)
    # cheap checks first: a user should not wait for training to learn the budget or the toolchain is wrong
    check_budget(a.budget, a.flash_budget, preset)
    if not a.skip_mcu:
        check_toolchain()
    out = _writable_dir(a.out)
    data = _load_data(a.data_dir)
    if a.threads is None and preset.supernet.num_threads == 1:
        _log("the machine is already busy: training with 1 torch thread (--threads N to override)")

    t = time.time()
    _log(f"1/7 search: supernet + evolutionary search under {fmt_bytes(a.budget)} SRAM (preset '{a.preset}')")
    res = stage_search(out, a.budget, a.flash_budget, a.epochs, preset, data, a.seed)
    step("search", t)
    _log(f"    chose {res.arch.short()} (val {100 * res.val_acc:.2f}%, planned SRAM {fmt_bytes(res.sram_bytes)})")

    t = time.time()
    _log("2/7 fine-tune the chosen sub-net (inherited weights)")
    vit = stage_finetune(out, res, a.finetune_epochs, preset, data, a.seed).eval()
    ckpt = _ft_dir(out, a.budget) / "finetune.pt"
    step("finetune", t)

    t = time.time()
    _log("3/7 quantize (MCUFormerQuantizer) + lower (MCUFormerPartitioner) -> .pte")
    pte = out / "model.pte"
    stamp = out / "model.pte.json"
    ck = _sha(ckpt)
    lower_info = json.loads(stamp.read_text()) if stamp.exists() else {}
    backend = _backend_sha()
    if not (pte.exists() and lower_info.get("checkpoint_sha") == ck and lower_info.get("pte_sha") == _sha(pte)
            and lower_info.get("calibration") == a.calibration and lower_info.get("input_qparams")
            and lower_info.get("backend_sha") == backend):
        example = (torch.zeros(1, 1, 28, 28),)
        calib = _calibration(example, a.calibration, None, data)
        # the deployed setting the search budgets (plan_vit): an int8 image in SRAM that the plan may overwrite
        lower_info = stage_lower(vit, example, calib, pte, overwrite_input=True, int8_input=True)
        lower_info.update(checkpoint_sha=ck, pte_sha=_sha(pte), calibration=a.calibration, backend_sha=backend)
        write_json_atomic(stamp, lower_info)
    else:
        _log(f"    reusing {pte}")
    step("quantize_lower", t)

    t = time.time()
    _log("4/7 plan: memory report of the deployed blob")
    from mcuformer.backend.memory import plan_vit  # noqa: PLC0415
    from mcuformer.backend.memory.report import plot  # noqa: PLC0415

    mem = memory_of_pte(pte)
    plan_int8 = plan_vit(res.arch)  # what the search (and benchmarks/memory.py) predicts: int8 input, overwritten
    write_json_atomic(out / "memory.json", mem.to_dict())
    step("plan", t)

    n_req = min(a.images, len(data.test)) if a.images else len(data.test)
    test = data.test.subset(n_req)
    mcu_res: dict[str, Any] | None = None
    if not a.skip_mcu:
        t = time.time()
        _log("5/7 build the Cortex-M7 firmware (cached by content hash)")
        fw = stage_build(pte, frame_region="RAM")  # the int8 image lives in SRAM, counted against 320 KB
        step("firmware", t)
        t = time.time()
        _log(f"6/7 run the firmware in QEMU on {n_req:,d} test images (instruction counts by the QEMU plugin)")
        scale, zp = lower_info["input_qparams"]
        images = quantize_f32(normalize(test.images).numpy(), 1.0 / scale, zp)  # what a camera driver would hand over
        if a.qemu_seconds is None:  # what is left of the job's time budget (report + margin kept back)
            budget_s = max(60.0, a.time_budget - (time.time() - t_start) - 60.0)
            _log(f"    {budget_s:.0f} s left for QEMU of the {a.time_budget:.0f} s job budget (--time-budget)")
        else:
            budget_s = None if a.qemu_seconds <= 0 else a.qemu_seconds
        mcu_res = stage_qemu(pte, images, test.labels.numpy(), out / "mcu", chunk=a.chunk, max_seconds=budget_s,
                             firmware=Path(fw.elf), frame_region="RAM")
        if mcu_res["images"] < n_req:
            notes.append(f"QEMU ran {mcu_res['images']:,d} of {n_req:,d} test images within {budget_s:.0f} s "
                         f"({'--qemu-seconds' if a.qemu_seconds else 'the rest of --time-budget'}); rerun (it "
                         "reuses the finished chunks and goes on) or pass --qemu-seconds 0 for the whole test set")
        mcu_res["firmware_usage"] = fw.usage
        elf = out / "firmware.elf"  # a copy beside the .pte (the build cache under build/mcu/ may be cleaned)
        with atomic_path(elf) as tmp:
            shutil.copyfile(fw.elf, tmp)
        mcu_res["elf"] = str(elf)
        step("qemu", t)
    else:
        notes.append("--skip-mcu: no firmware built, no QEMU run; int8 accuracy not measured")

    t = time.time()
    n_eval = mcu_res["images"] if mcu_res else len(test)
    fp32_top1 = with_ticker("fp32 top-1 (PyTorch) on the same test images", lambda: evaluate(vit, test.subset(n_eval)))
    fp32_full = fp32_top1 if n_eval == len(data.test) else with_ticker(
        "fp32 top-1 (PyTorch) on the whole test set", lambda: evaluate(vit, data.test))
    step("fp32_eval", t)

    summary = {
        "budget_bytes": a.budget, "flash_budget_bytes": a.flash_budget, "preset": a.preset,
        "arch": res.arch.to_dict(), "arch_short": res.arch.short(), "macs": macs(res.arch),
        "search": {"val_acc": res.val_acc, "planned_sram_bytes": res.sram_bytes, "planned_flash_bytes": res.flash_bytes,
                   "candidates": len(res.candidates), "seconds": res.seconds, "path": str(_search_path(out, a.budget))},
        "test_images": n_eval, "fp32_top1": fp32_top1, "fp32_top1_full_test": fp32_full,
        "int8_top1": mcu_res["top1"] if mcu_res else None,
        "memory": {"total_sram_bytes": mem.total_sram_bytes, "arena_bytes": mem.arena_bytes,
                   "input_bytes": mem.input_bytes, "bound_bytes": mem.bound_bytes, "weights_bytes": mem.flash_bytes,
                   "plan_vit_int8_input_sram_bytes": plan_int8.total_sram_bytes,
                   "within_budget": mem.total_sram_bytes <= a.budget},
        "mcu": mcu_res,
        "instructions_per_inference": mcu_res["instructions"] if mcu_res else None,
        "est_ms_at_216mhz": (mcu_res["instructions"] / (MHZ * 1e3)) if mcu_res else None,
        "lower": {k: lower_info.get(k) for k in ("pte_bytes", "undelegated", "rejections", "delegates")},
        "paths": {"out": str(out), "pte": str(pte), "search": str(_search_path(out, a.budget)),
                  "supernet": str(out / "nas" / "supernet.pt"), "checkpoint": str(ckpt),
                  "memory": str(out / "memory.json"), "summary": str(out / "summary.json"),
                  "firmware": mcu_res["elf"] if mcu_res else None},
        "seconds": times, "notes": notes,
    }

    t = time.time()
    _log("7/7 report")
    from .report import write_report  # noqa: PLC0415

    report_path = write_report(summary, out / "report")
    summary["paths"]["report"] = str(report_path)
    step("report", t)
    summary["seconds"]["total"] = round(time.time() - t_start, 1)
    write_json_atomic(out / "summary.json", summary)
    print(summary_table(summary))
    return 0


def summary_table(s: dict[str, Any]) -> str:
    """The main job's closing table (plain text, aligned)."""
    m, mcu = s["memory"], s.get("mcu") or {}
    pct = lambda v: "-" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    rows = [
        ("architecture", f"{s['arch_short']}  ({s['macs'] / 1e6:.2f} M MACs)"),
        ("test images (Fashion-MNIST)", f"{s['test_images']:,d}"),
        ("fp32 top-1 (PyTorch)", pct(s["fp32_top1"])),
        ("int8 top-1 (firmware in QEMU)", pct(s["int8_top1"])),
        ("SRAM (model: input + arena)", f"{fmt_bytes(m['total_sram_bytes'])} of {fmt_bytes(s['budget_bytes'])} budget"
                                        + ("" if m["within_budget"] else "  OVER BUDGET")),
        ("  arena / live-set bound of input + arena", f"{fmt_bytes(m['arena_bytes'])} / {fmt_bytes(m['bound_bytes'])}"),
        ("  plan_vit (int8 input, as benchmarks)", fmt_bytes(m.get("plan_vit_int8_input_sram_bytes"))),
    ]
    if mcu:
        rows += [
            ("firmware RAM (stack+runtime+arena)", f"{fmt_bytes(mcu.get('ram_bytes'))} of "
                                                   f"{fmt_bytes(mcu.get('ram_budget_bytes'))}"),
            ("flash used", f"{fmt_bytes(mcu.get('flash_bytes'))} internal"
                           + (f" + {fmt_bytes(mcu.get('qspi_bytes'))} QSPI" if mcu.get("qspi_bytes") else "")
                           + f"  (.pte in {mcu.get('pte_region')}, weights {fmt_bytes(m['weights_bytes'])})"),
            ("instructions per inference", f"{s['instructions_per_inference']:,d}"),
            (f"estimated ms at {MHZ} MHz", f"{s['est_ms_at_216mhz']:.2f} ms (1 instruction per cycle)"),
        ]
    else:
        rows.append(("weights (flash)", fmt_bytes(m["weights_bytes"])))
    for k in ("report", "pte", "firmware", "checkpoint", "search", "summary"):
        if s["paths"].get(k):
            rows.append((f"path: {k}", s["paths"][k]))
    w = max(len(r[0]) for r in rows)
    lines = ["", "=" * 100, "mcuformer main job — summary", "-" * 100]
    lines += [f"{k:<{w}}  {v}" for k, v in rows]
    secs = s.get("seconds", {})
    lines.append("-" * 100)
    lines.append("time (s): " + "  ".join(f"{k} {v:g}" for k, v in secs.items()))
    for note in s.get("notes", []):
        lines.append("note: " + note)
    lines.append("=" * 100)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Parser


def _add_common(p: argparse.ArgumentParser, out: bool = True, data: bool = True) -> None:
    if out:
        p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                       help=f"output folder: checkpoints, search results, .pte, report (default: {DEFAULT_OUT})")
    if data:
        p.add_argument("--data-dir", default=None, metavar="DIR",
                       help="Fashion-MNIST folder (default: /usr/share/datasets/fashion-mnist, from the Debian "
                            "package dataset-fashion-mnist)")


def _add_training(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=["main", "benchmark"], default="main",
                   help="training/search recipe: 'main' is sized for the main job on 2 CPU cores (a few minutes); "
                        "'benchmark' is the full recipe (default: main)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default: 0)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: 1 if the machine is already busy, else torch's choice)")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog=PROG, formatter_class=fmt,
        description="Vision transformers on microcontrollers: memory-budgeted architecture search (MCUFormer), "
                    "an int8 ExecuTorch backend delegate, and Cortex-M7 firmware run in QEMU.",
        epilog="Sizes are bytes or 64KB / 320KiB / 1MB (K = 1024). `mcuformer COMMAND --help` explains each "
               "command.\nStart with `mcuformer run` (what ./scripts/run.sh does).")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")

    r = sub.add_parser(
        "run", formatter_class=fmt, help="the main job: search -> fine-tune -> quantize -> lower -> plan -> firmware "
        "-> QEMU -> report",
        description="The main job, end to end on Fashion-MNIST: train a supernet and search it for the most accurate "
                    "ViT whose deployed memory (the backend's own planner) fits the SRAM budget; fine-tune it; "
                    "quantize it to int8 (MCUFormerQuantizer) and lower it to a .pte (MCUFormerPartitioner); plan its "
                    "arena; build the Cortex-M7 firmware; run it in QEMU (mps2-an500, STM32F746 budgets) on the test "
                    "set with exact instruction counts; write out/report/index.html and a summary table.\n\n"
                    "Resumable: rerunning after an interruption reuses the supernet/fine-tune checkpoints, the "
                    "search result, the .pte and the finished QEMU chunks in --out.")
    r.add_argument("--budget", type=parse_size, default=parse_size(DEFAULT_BUDGET), metavar="SIZE",
                   help=f"SRAM budget of the model (input + arena) (default: {DEFAULT_BUDGET})")
    r.add_argument("--flash-budget", type=parse_size, default=None, metavar="SIZE",
                   help="flash budget for the weights (default: none; the firmware puts a .pte that does not fit the "
                        "1 MB internal flash into QSPI)")
    r.add_argument("--epochs", type=int, default=None, help="supernet epochs (default: the preset's)")
    r.add_argument("--finetune-epochs", type=int, default=None, help="fine-tuning epochs (default: the preset's)")
    r.add_argument("--images", type=int, default=10000,
                   help="test images to run on the firmware in QEMU (default: 10000, the whole test set)")
    r.add_argument("--time-budget", type=float, default=1200.0, metavar="SECONDS",
                   help="time budget of the whole run (default: 1200 = 20 minutes): QEMU runs test images until "
                        "it is used up (at least one chunk) and the summary says how many ran")
    r.add_argument("--qemu-seconds", type=float, default=None,
                   help="stop starting new QEMU chunks after this many seconds instead (0: no limit: the whole "
                        "--images)")
    r.add_argument("--chunk", type=int, default=250, help="images per QEMU boot (default: 250)")
    r.add_argument("--calibration", type=int, default=128, help="calibration images for quantization (default: 128)")
    r.add_argument("--skip-mcu", action="store_true", help="stop after planning: no firmware, no QEMU")
    _add_common(r)
    _add_training(r)
    r.set_defaults(func=cmd_run)

    s = sub.add_parser(
        "search", formatter_class=fmt, help="NAS: the most accurate sub-net that fits an SRAM (and flash) budget",
        description="Memory-budgeted architecture search (MCUFormer) on Fashion-MNIST: trains the weight-sharing "
                    "supernet into OUT/nas/supernet.pt (or resumes it), evolves the search space (patch size, "
                    "low-rank ratio), then runs an evolutionary search scored by inherited-weight validation "
                    "accuracy. Memory comes from the backend's own planner (plan_vit), so what fits here fits when "
                    "deployed. Writes OUT/nas/search_<budget>.json (chosen arch + every candidate seen).")
    s.add_argument("--budget", type=parse_size, default=parse_size(DEFAULT_BUDGET), metavar="SIZE",
                   help=f"SRAM budget (default: {DEFAULT_BUDGET})")
    s.add_argument("--flash-budget", type=parse_size, default=None, metavar="SIZE",
                   help="flash budget for the weights (default: none)")
    s.add_argument("--epochs", type=int, default=None, help="supernet epochs (default: the preset's)")
    s.add_argument("--fresh", action="store_true", help="search again even if a result for this budget exists")
    _add_common(s)
    _add_training(s)
    s.set_defaults(func=cmd_search)

    t = sub.add_parser(
        "train", formatter_class=fmt, help="train the supernet, or fine-tune a searched sub-net (resumable)",
        description="supernet: sandwich-rule training with in-place distillation of the weight-sharing supernet "
                    "into OUT/nas/supernet.pt.\nfinetune: extract the sub-net chosen by `mcuformer search` with its "
                    "inherited weights and fine-tune it into OUT/nas/ft_<budget>/finetune.pt.\nBoth checkpoint "
                    "after every epoch and resume exactly where they stopped.")
    t.add_argument("stage", choices=["supernet", "finetune"], help="what to train")
    t.add_argument("--epochs", type=int, default=None, help="epochs (default: the preset's)")
    t.add_argument("--search", default=None, metavar="JSON",
                   help="finetune: the search result (default: OUT/nas/search_<budget>.json)")
    t.add_argument("--budget", type=parse_size, default=parse_size(DEFAULT_BUDGET), metavar="SIZE",
                   help=f"finetune: which search result to take from OUT (default: {DEFAULT_BUDGET})")
    _add_common(t)
    _add_training(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser(
        "export", formatter_class=fmt, help="torch.export a fine-tuned sub-net to a .pt2",
        description="Rebuilds the standalone ViT from a fine-tuning checkpoint (finetune.pt or its folder) and "
                    "exports it with torch.export.export(strict=True) into a .pt2 (torch.export.save). `mcuformer "
                    "lower` takes the .pt2 or the checkpoint.")
    e.add_argument("checkpoint", help="finetune.pt (or the folder holding it), e.g. out/nas/ft_65536")
    e.add_argument("-o", "--output", default=f"{DEFAULT_OUT}/model.pt2", help="the .pt2 to write (default: out/model.pt2)")
    e.set_defaults(func=cmd_export)

    lo = sub.add_parser(
        "lower", formatter_class=fmt, help="quantize to int8 and lower to an ExecuTorch .pte with the MCUFormer delegate",
        description="PT2E quantization with MCUFormerQuantizer (calibrated on Fashion-MNIST training images, or on "
                    "noise when the input is not a 28x28 image), then to_edge_transform_and_lower with "
                    "MCUFormerPartitioner: the whole network becomes one delegate whose blob holds our IR, fused, "
                    "scheduled and planned. Fails, naming each node and why, if any operator stays outside the "
                    "delegate (the firmware runs delegates only).")
    lo.add_argument("model", help="a fine-tuned checkpoint (finetune.pt or its folder) or a torch.export .pt2")
    lo.add_argument("-o", "--output", default=f"{DEFAULT_OUT}/model.pte", help="the .pte (default: out/model.pte)")
    lo.add_argument("--overwrite-input", action="store_true",
                    help="let the delegate write over its int8 input buffer once read (smaller SRAM; only for models "
                         "with an int8 input)")
    lo.add_argument("--legacy", action="store_true", help="use to_edge(...).to_backend(...) instead of "
                                                         "to_edge_transform_and_lower")
    lo.add_argument("--calibration", type=int, default=128, help="calibration samples (default: 128)")
    lo.add_argument("--allow-undelegated", action="store_true",
                    help="write the .pte even if some operators stay with ExecuTorch's portable kernels")
    _add_common(lo, out=False)
    lo.set_defaults(func=cmd_lower)

    sub.add_parser(
        "memory", add_help=False, help="memory report of a .pte: arena, live-set bound, peak, plots",
        description="(see `mcuformer memory --help`)")

    b = sub.add_parser(
        "build", formatter_class=fmt, help="build the Cortex-M7 firmware for a .pte",
        description="Builds the firmware (examples/stm32f746) that runs a .pte: the arena is sized from the plan in "
                    "the .pte, the .pte is linked into internal flash when it fits, else into QSPI, and the linker "
                    "enforces 320 KB SRAM / 1 MB flash / 16 MB QSPI. Builds are cached by content hash under "
                    "build/mcu/. Boards: qemu-mps2-an500 (runs in QEMU) and stm32f746 (the real board).")
    b.add_argument("pte", help="the .pte to build into the firmware")
    b.add_argument("--board", default="qemu-mps2-an500", choices=["qemu-mps2-an500", "stm32f746"],
                   help="target board (default: qemu-mps2-an500)")
    b.add_argument("-o", "--output", default=None, help="copy the ELF here (default: leave it in build/mcu/)")
    b.add_argument("--arena-bytes", type=parse_size, default=None, help="override the plan's arena size")
    b.add_argument("--stack-bytes", type=parse_size, default=8192, help="stack size (default: 8192)")
    b.add_argument("--pte-region", default="auto", choices=["auto", "FLASH", "QSPI"],
                   help="where the .pte is linked (default: auto = FLASH if it fits, else QSPI)")
    b.add_argument("--frame-region", default="SDRAM", choices=["SDRAM", "RAM"],
                   help="where the input frame buffer lives: SDRAM (a camera frame; default) or RAM (counted against "
                        "the 320 KB, needs no SDRAM bring-up on the board)")
    b.add_argument("--kernels", default="cm7", choices=["cm7", "ref"],
                   help="Cortex-M7 DSP kernels (default) or the scalar reference kernels")
    b.set_defaults(func=cmd_build)

    sub.add_parser("run-mcu", add_help=False, help="run a .pte on the emulated Cortex-M7 (QEMU) with instruction counts",
                   description="(see `mcuformer run-mcu --help`)")

    rp = sub.add_parser(
        "report", formatter_class=fmt, help="write the HTML report (architecture, memory, Pareto, per-op counts)",
        description="Writes OUT/report/index.html with PNGs from what `mcuformer run` left in OUT (summary.json, the "
                    "search result, the .pte): the chosen architecture, the memory timeline with the budget line, "
                    "the arena layout, accuracy vs SRAM of every candidate seen by the search, and the per-operator "
                    "instruction counts measured in QEMU.")
    rp.add_argument("--report-dir", default=None, help="where to write the report (default: OUT/report)")
    _add_common(rp, data=False)
    rp.set_defaults(func=cmd_report)
    return p


PASSTHROUGH: dict[str, Callable[[list[str]], int]] = {"memory": cmd_memory, "run-mcu": cmd_run_mcu}


def _quiet_imports() -> None:
    """Silences import-time noise that is not about the user's run: torchao's optional CUDA extensions that a CPU
    machine cannot load, and a torch deprecation note triggered by torchao."""
    import logging  # noqa: PLC0415

    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import warnings  # noqa: PLC0415

    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _quiet_imports()
    try:
        if argv and argv[0] in PASSTHROUGH:
            return int(PASSTHROUGH[argv[0]](argv[1:]) or 0)
        parser = build_parser()
        a = parser.parse_args(argv)
        if not getattr(a, "func", None):
            parser.print_help()
            return EXIT_USAGE
        return int(a.func(a) or 0)
    except UserError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; rerun the same command to resume (finished steps are reused)", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
