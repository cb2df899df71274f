"""`mcuformer run`, the main job: seven stages, resumable, ending in a typed :class:`~mcuformer.summary.Summary`.

    1 search    supernet + evolutionary search under the SRAM budget   (stages.stage_search: out/nas/search_B.json)
    2 finetune  the chosen sub-net, inherited weights                  (stages.stage_finetune: out/nas/ft_B/)
    3 lower     quantize + lower -> out/model.pte                        (stages.stage_lower; stamp model.pte.json)
    4 plan      memory report of the deployed blob -> out/memory.json    (pte.memory_of_pte)
    5 firmware  Cortex-M7 firmware for the .pte                          (stages.stage_build)
    6 qemu      the firmware on the test set, in chunks -> out/mcu/      (stage_qemu; a stamp per chunk)
    7 report    out/report/index.html, out/summary.json                  (report.write_report)

A rerun after an interruption reuses what is finished: the training checkpoints and the search result resume
themselves (mcuformer.nas); the .pte and every QEMU chunk are reused when their :class:`Stamp` says they were made
from the same inputs.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import writable_dir
from .format import fmt_bytes, summary_table
from .io import atomic_path, write_json_atomic
from .paths import source_root
from .pte import memory_of_pte
from .stages import (DEFAULT_BOARD, DEFAULT_LATENCY_MS, budget_from_options, check_budget, check_toolchain,
                     calibration, firmware_error, ft_dir, load_data, log, recipe_for_data, search_path, sha,
                     stage_build, stage_finetune, stage_lower, stage_search, with_ticker)
from .summary import MemoryInfo, SearchInfo, Summary


@dataclass
class JobConfig:
    """What `mcuformer run` was asked for (its options)."""
    out: str = "out"
    board: str | None = None  # the MCU (stages.budget_from_options: None is the STM32F746 at 64 KB of SRAM)
    budget: int | None = None  # --sram: overrides the board's
    flash_budget: int | None = None  # --flash: overrides the board's
    latency_ms: float | None = DEFAULT_LATENCY_MS  # --latency-ms (None: no latency budget)
    epochs: int | None = None
    finetune_epochs: int | None = None
    images: int = 10000
    time_budget: float = 1200.0
    qemu_seconds: float | None = None
    chunk: int = 250
    calibration: int = 128
    skip_mcu: bool = False
    data: str | None = None  # Fashion-MNIST, or an image folder / .npz (nas.data.load_data)
    img_size: int | None = None
    preset: str = "main"
    seed: int = 0
    threads: int | None = None


@dataclass
class Stamp:
    """The resumption record of one output: a JSON file that says what the output was made from (``inputs``) and
    what it was when written (its hash), plus whatever the stage wants to keep (``info``). The output is reused only
    when it still hashes the same and every input is equal: one rule for every stage that resumes."""
    output: Path
    path: Path

    def load(self, **inputs: Any) -> dict[str, Any] | None:
        """The recorded info if the output is still what was recorded from these inputs, else None."""
        if not (self.output.is_file() and self.path.is_file()):
            return None
        try:
            rec = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        stamp = rec.get("stamp", {})
        if stamp.get("output_sha") != sha(self.output) or stamp.get("inputs") != inputs:
            return None
        return rec

    def save(self, info: dict[str, Any], **inputs: Any) -> dict[str, Any]:
        rec = dict(info, stamp={"inputs": inputs, "output_sha": sha(self.output)})
        write_json_atomic(self.path, rec)
        return rec


def backend_sha() -> str:
    """Hash of the ahead-of-time backend's sources (and schema): a stamped .pte is reused only if it would be lowered
    the same way today."""
    root = source_root() / "backend"
    h = hashlib.sha256()
    for f in sorted(root.rglob("*")):
        if f.suffix in (".py", ".fbs") and f.is_file():
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def stage_qemu(pte: Path, images, labels, out_dir: Path, chunk: int = 1000, progress: bool = True,
               max_seconds: float | None = None, firmware: Path | None = None,
               frame_region: str = "SDRAM", target: str = DEFAULT_BOARD, workers: int | None = None) -> dict[str, Any]:
    """Runs the firmware in QEMU over `images` in chunks (each one boot; its outputs out_dir/KEY_S_E.npz and its
    QEMU summary, the stamp, beside it as .json), so that an interrupted run resumes. KEY names the .pte and the ELF
    (`firmware`): a rebuilt runtime is measured afresh. `target`: the MCU whose budgets the firmware's linker
    script holds (as stage_build's). `workers` boots run at once (default: one per CPU core; each QEMU is one
    thread). With max_seconds, starts no chunk after that many seconds (at least one runs); the result covers the
    finished chunks from the first image on.
    Returns accuracy, mean instructions per inference, per-op counts, the firmware summary."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415
    from tqdm import tqdm  # noqa: PLC0415

    from mcuformer import mcu  # noqa: PLC0415

    check_toolchain()
    pte_sha, fw_sha = sha(pte), sha(firmware) if firmware is not None else None
    key = pte_sha + (f"-{fw_sha[:8]}" if fw_sha else "")
    out_dir.mkdir(parents=True, exist_ok=True)
    n = len(images)
    t0 = time.time()
    bar = tqdm(total=n, desc="QEMU Cortex-M7 (firmware, test set)", unit="img", disable=not progress,
               dynamic_ncols=True)
    done: dict[int, tuple[Any, dict[str, Any]]] = {}  # chunk start -> (outputs, summary)
    todo = []
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        cache = out_dir / f"{key}_{s:05d}_{e:05d}.npz"
        stamp = Stamp(cache, cache.with_suffix(".json"))
        inputs = {"pte_sha": pte_sha, "firmware_sha": fw_sha, "images": [s, e]}
        summ = stamp.load(**inputs)
        if summ is not None:
            done[s] = (np.load(cache)["out"], summ)
            bar.update(e - s)
        else:
            todo.append((s, e, cache, stamp, inputs))

    def run_chunk(s: int, e: int, cache: Path, stamp: Stamp, inputs: dict[str, Any]):
        tc = time.time()
        try:
            out, summ = mcu.run_mcu(pte, images[s:e], timeout=max(600.0, 0.5 * (e - s)),
                                    frame_region=frame_region, target=target)
        except mcu.McuError as err:
            raise firmware_error(err, "firmware run in QEMU") from None
        summ["seconds"] = round(time.time() - tc, 2)
        with atomic_path(cache) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, out=out)
        return out, stamp.save(summ, **inputs)

    ran_seconds = 0.0
    workers = max(1, workers or os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running: dict[Any, tuple] = {}
        while todo or running:
            while todo and len(running) < workers and not (
                    max_seconds is not None and (done or running) and time.time() - t0 > max_seconds):
                job = todo.pop(0)
                running[pool.submit(run_chunk, *job)] = job
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                s, e = running.pop(fut)[:2]
                done[s] = fut.result()
                ran_seconds += done[s][1]["seconds"]
                bar.update(e - s)
    bar.close()
    outputs, summaries = [], []
    for s in range(0, n, chunk):  # the finished chunks from image 0 on, in order
        if s not in done:
            break
        outputs.append(done[s][0])
        summaries.append(done[s][1])
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


def run_job(cfg: JobConfig, recipe) -> Summary:
    """The main job with the training recipe ``recipe`` (stages.preset); prints the closing table, returns the
    summary it wrote to out/summary.json."""
    import torch  # noqa: PLC0415

    from mcuformer.backend.memory import plan_vit  # noqa: PLC0415
    from mcuformer.backend.quant_math import quantize_f32  # noqa: PLC0415
    from mcuformer.nas.space import macs  # noqa: PLC0415
    from mcuformer.nas.train import evaluate  # noqa: PLC0415

    from .report import write_report  # noqa: PLC0415 - matplotlib only when the job gets there

    t_start = time.time()
    started = os.environ.get("MCUFORMER_JOB_START", "")  # scripts/run.sh: count its set-up in the time budget
    if started.isdigit() and 0 <= t_start - int(started) < 3600:
        t_start = float(started)
    times: dict[str, float] = {}
    notes: list[str] = []

    def step(name: str, t: float) -> None:
        times[name] = round(time.time() - t, 1)

    # cheap checks first: a user should not wait for training to learn the budget or the toolchain is wrong
    budget = budget_from_options(cfg.board, cfg.budget, cfg.flash_budget, cfg.latency_ms)
    board = cfg.board or DEFAULT_BOARD
    data = load_data(cfg.data, cfg.img_size)
    recipe = recipe_for_data(recipe, data)
    check_budget(budget, recipe)
    if not cfg.skip_mcu:
        check_toolchain()
    out = writable_dir(cfg.out)
    if cfg.threads is None and recipe.supernet.num_threads == 1:
        log("the machine is already busy: training with 1 torch thread (--threads N to override)")

    t = time.time()
    log(f"1/7 search: supernet + evolutionary search for {board} under {fmt_bytes(budget.sram_bytes)} SRAM"
        + ("" if budget.flash_bytes is None else f", {fmt_bytes(budget.flash_bytes)} flash")
        + ("" if budget.latency_ms is None else f", {budget.latency_ms:g} ms") + f" (preset '{cfg.preset}')")
    res = stage_search(out, budget, cfg.epochs, recipe, data, cfg.seed)
    step("search", t)
    log(f"    chose {res.arch.short()} (val {100 * res.val_acc:.2f}%, planned SRAM {fmt_bytes(res.sram_bytes)}, "
        f"binding: {res.binding})")

    t = time.time()
    log("2/7 fine-tune the chosen sub-net (inherited weights)")
    vit = stage_finetune(out, res, cfg.finetune_epochs, recipe, data, cfg.seed).eval()
    ckpt = ft_dir(out, budget.sram_bytes) / "finetune.pt"
    step("finetune", t)

    t = time.time()
    log("3/7 quantize (MCUFormerQuantizer) + lower (MCUFormerPartitioner) -> .pte")
    pte = out / "model.pte"
    stamp = Stamp(pte, out / "model.pte.json")  # benchmarks/main_job.py reads input_qparams from it
    made_from = {"checkpoint_sha": sha(ckpt), "calibration": cfg.calibration, "data": data.source,
                 "backend_sha": backend_sha(), "sram_budget": budget.sram_bytes}
    lower_info = stamp.load(**made_from)
    if lower_info is None or not lower_info.get("input_qparams"):
        example = (torch.zeros((1,) + data.image_shape),)
        calib = calibration(example, cfg.calibration, None, data)
        # the deployed setting the search budgets (plan_vit): an int8 image in SRAM that the plan may overwrite,
        # token loops in the tiles the search's SRAM budget allows
        lower_info = stamp.save(stage_lower(vit, example, calib, pte, overwrite_input=True, int8_input=True,
                                            sram_budget=budget.sram_bytes), **made_from)
    else:
        log(f"    reusing {pte}")
    step("quantize_lower", t)

    t = time.time()
    log("4/7 plan: memory report of the deployed blob")
    mem = memory_of_pte(pte)
    # what the search predicted: int8 input, overwritten, tiled for its SRAM budget (the .pte must say the same)
    plan_int8 = plan_vit(res.arch, sram_budget=budget.sram_bytes)
    write_json_atomic(out / "memory.json", mem.to_dict())
    step("plan", t)

    n_req = min(cfg.images, len(data.test)) if cfg.images else len(data.test)
    test = data.test.subset(n_req)
    mcu_res: dict[str, Any] | None = None
    if not cfg.skip_mcu:
        t = time.time()
        log("5/7 build the Cortex-M7 firmware (cached by content hash)")
        fw = stage_build(pte, target=board, frame_region="RAM")  # the int8 image lives in SRAM, counted against it
        step("firmware", t)
        t = time.time()
        log(f"6/7 run the firmware in QEMU on {n_req:,d} test images (instruction counts by the QEMU plugin)")
        scale, zp = lower_info["input_qparams"]
        images = quantize_f32(test.normalized().numpy(), 1.0 / scale, zp)  # what a camera driver would hand over
        if cfg.qemu_seconds is None:  # what is left of the job's time budget (report + margin kept back)
            budget_s = max(60.0, cfg.time_budget - (time.time() - t_start) - 60.0)
            log(f"    {budget_s:.0f} s left for QEMU of the {cfg.time_budget:.0f} s job budget (--time-budget)")
        else:
            budget_s = None if cfg.qemu_seconds <= 0 else cfg.qemu_seconds
        mcu_res = stage_qemu(pte, images, test.labels.numpy(), out / "mcu", chunk=cfg.chunk, max_seconds=budget_s,
                             firmware=Path(fw.elf), frame_region="RAM", target=board)
        if mcu_res["images"] < n_req:
            notes.append(f"QEMU ran {mcu_res['images']:,d} of {n_req:,d} test images within {budget_s:.0f} s "
                         f"({'--qemu-seconds' if cfg.qemu_seconds else 'the rest of --time-budget'}); rerun (it "
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

    summary = Summary(
        board=board, budget_bytes=budget.sram_bytes, flash_budget_bytes=budget.flash_bytes,
        latency_budget_ms=budget.latency_ms, clock_hz=budget.clock_hz, preset=cfg.preset,
        arch=res.arch.to_dict(), arch_short=res.arch.short(), macs=macs(res.arch),
        search=SearchInfo(val_acc=res.val_acc, planned_sram_bytes=res.sram_bytes, planned_flash_bytes=res.flash_bytes,
                          candidates=len(res.candidates), seconds=res.seconds,
                          path=str(search_path(out, budget.sram_bytes)), latency_ms=res.latency_ms,
                          binding=res.binding, used=res.used, min_sram_bytes=res.min_sram_bytes),
        test_images=n_eval, fp32_top1=fp32_top1, fp32_top1_full_test=fp32_full,
        int8_top1=mcu_res["top1"] if mcu_res else None,
        memory=MemoryInfo(total_sram_bytes=mem.total_sram_bytes, arena_bytes=mem.arena_bytes,
                          input_bytes=mem.input_bytes, bound_bytes=mem.bound_bytes, weights_bytes=mem.flash_bytes,
                          plan_vit_int8_input_sram_bytes=plan_int8.total_sram_bytes,
                          within_budget=mem.total_sram_bytes <= budget.sram_bytes),
        mcu=mcu_res,
        instructions_per_inference=mcu_res["instructions"] if mcu_res else None,
        est_ms=(mcu_res["instructions"] / budget.clock_hz * 1e3) if mcu_res else None,
        lower={k: lower_info.get(k) for k in ("pte_bytes", "undelegated", "rejections", "delegates")},
        paths={"out": str(out), "pte": str(pte), "search": str(search_path(out, budget.sram_bytes)),
               "supernet": str(out / "nas" / "supernet.pt"), "checkpoint": str(ckpt),
               "memory": str(out / "memory.json"), "summary": str(out / "summary.json"),
               "firmware": mcu_res["elf"] if mcu_res else None},
        seconds=times, notes=notes)

    t = time.time()
    log("7/7 report")
    summary.paths["report"] = str(write_report(summary, out / "report"))
    step("report", t)
    summary.seconds["total"] = round(time.time() - t_start, 1)
    summary.save(out / "summary.json")
    print(summary_table(summary))
    return summary
