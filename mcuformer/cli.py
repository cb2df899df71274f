"""`mcuformer`: every stage of the product from the command line, and `mcuformer run`, the main job.

    mcuformer run                              # search -> fine-tune -> quantize -> lower -> plan -> firmware -> QEMU
    mcuformer search --board stm32h743         # NAS under a board's SRAM/flash (--sram/--flash/--latency-ms override)
    mcuformer train supernet | finetune        # one training stage on its own (resumable)
    mcuformer export CKPT -o model.pt2         # torch.export of a fine-tuned sub-net
    mcuformer lower CKPT|model.pt2 -o model.pte
    mcuformer memory model.pte --png mem.png   # arena, live-set bound, layout
    mcuformer build model.pte                  # Cortex-M7 firmware (cached by content hash)
    mcuformer run-mcu model.pte --input x.npy  # run in QEMU with exact instruction counts
    mcuformer report                           # out/report/index.html from what `run` wrote

This module parses arguments and calls the stages (:mod:`mcuformer.stages`, the main job in :mod:`mcuformer.job`).
Each command checks what it is given before it works on it (a `.pte` by :func:`mcuformer.pte.verify_pte`). Errors a
user can act on (no data set, a budget nothing meets, an unsupported operator, no toolchain, a bad file) are printed
as one line on stderr with exit status 1 and nothing written; see :class:`~mcuformer.errors.UserError`. Every output
is written atomically (:mod:`mcuformer.io`), and `run` reuses what an earlier, interrupted run finished.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import fields
from pathlib import Path
from typing import Callable, Sequence

from .errors import UserError, existing_file, first_line, out_file, writable_dir
from .format import fmt_bytes, parse_size
from .io import atomic_path
from .job import JobConfig, run_job
from .noise import quiet_third_party
from .pte import memory_reports, verify_pte
from .stages import (DEFAULT_BOARD, DEFAULT_LATENCY_MS, DEFAULT_SRAM, budget_from_options, check_budget,
                     check_toolchain, ft_dir)
from .stages import load_checkpoint_vit, load_data, load_model, recipe_for_data, search_path
from .stages import calibration, load_npy, stage_build, stage_finetune, stage_lower, stage_search
from .stages import preset as _preset  # the recipe of --preset/--threads (tests/test_main_job.py swaps in a tiny one)
from .summary import Summary

PROG = "mcuformer"
DEFAULT_OUT = "out"
DEFAULT_BUDGET = "64KB"  # `train finetune`'s choice of search result (the main job's SRAM budget, stages.DEFAULT_SRAM)

# Exit statuses
EXIT_USAGE = 2  # argparse's own
EXIT_USER = 1  # an error the user can act on (message on stderr)
EXIT_INTERRUPTED = 130


# ---------------------------------------------------------------------------------------------------------------
# Subcommands


def cmd_run(a: argparse.Namespace) -> int:
    run_job(JobConfig(**{f.name: getattr(a, f.name) for f in fields(JobConfig)}), _preset(a.preset, a.threads))
    return 0


def cmd_search(a: argparse.Namespace) -> int:
    budget = budget_from_options(a.board, a.budget, a.flash_budget, a.latency_ms)
    data = load_data(a.data, a.img_size)
    recipe = recipe_for_data(_preset(a.preset, a.threads), data)
    check_budget(budget, recipe)
    out = writable_dir(a.out)
    res = stage_search(out, budget, a.epochs, recipe, data, a.seed, reuse=not a.fresh)
    print(f"searched: {res.arch.short()}  val top-1 (inherited weights) {100 * res.val_acc:.2f}%  "
          f"SRAM {fmt_bytes(res.sram_bytes)} of {fmt_bytes(budget.sram_bytes)}  flash {fmt_bytes(res.flash_bytes)}"
          + ("" if budget.flash_bytes is None else f" of {fmt_bytes(budget.flash_bytes)}")
          + ("" if res.latency_ms is None else f"  {res.latency_ms:.2f} ms")
          + ("" if budget.latency_ms is None else f" of {budget.latency_ms:g} ms")
          + f"  binding: {res.binding}  ({len(res.candidates)} candidates)")
    print(f"wrote {search_path(out, budget.sram_bytes)}")
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    import json  # noqa: PLC0415
    from dataclasses import replace  # noqa: PLC0415

    from mcuformer.nas import pipeline as P  # noqa: PLC0415
    from mcuformer.nas.train import train_supernet  # noqa: PLC0415

    data = load_data(a.data, a.img_size)
    recipe = recipe_for_data(_preset(a.preset, a.threads), data)
    out = writable_dir(a.out)
    if a.stage == "supernet":
        cfg = replace(recipe.supernet, seed=a.seed, **({"epochs": a.epochs} if a.epochs is not None else {}))
        train_supernet(recipe.space, cfg, out / "nas", region=P.training_region(recipe), data=data)
        print(f"wrote {out / 'nas' / 'supernet.pt'}")
        return 0
    search = existing_file(a.search or search_path(out, a.budget), "search result")
    try:
        res = P.SearchResult.load(search)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{str(search)!r} is not a search result (from `mcuformer search`): {first_line(e)}") from None
    if res.supernet_path is None or not Path(res.supernet_path).exists():
        raise UserError(f"the supernet checkpoint of {str(search)!r} ({res.supernet_path}) does not exist: "
                        "run `mcuformer train supernet` or `mcuformer search` first")
    vit = stage_finetune(out, res, a.epochs, recipe, data, a.seed)
    print(f"fine-tuned {res.arch.short()}: fp32 test top-1 {100 * P.test_accuracy(vit, data):.2f}%")
    print(f"wrote {ft_dir(out, res.budget.sram_bytes) / 'finetune.pt'}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415

    from mcuformer.nas.pipeline import export_subnet  # noqa: PLC0415

    ckpt = Path(a.checkpoint)
    if not ckpt.exists():
        raise UserError(f"checkpoint {str(ckpt)!r} does not exist")
    if ckpt.suffix == ".pt2":
        raise UserError(f"{str(ckpt)!r} is already a torch.export program: `mcuformer lower` takes it as it is")
    vit = load_checkpoint_vit(ckpt)
    dest = out_file(a.output)
    ep = export_subnet(vit)
    with atomic_path(dest) as tmp:
        torch.export.save(ep, str(tmp))
    print(f"exported {vit.arch.short()} -> {dest}")
    return 0


def cmd_lower(a: argparse.Namespace) -> int:
    from .pte import memory_of_pte  # noqa: PLC0415

    src = Path(a.model)
    if not src.exists():
        raise UserError(f"model {str(src)!r} does not exist")
    model, example = load_model(src)
    dest = out_file(a.output)
    calib = calibration(example, a.calibration, a.data, img_size=a.img_size)
    sram = budget_from_options(a.board, a.budget).sram_bytes  # the search's: its predictions are this .pte's
    info = stage_lower(model, example, calib, dest, overwrite_input=a.overwrite_input, legacy=a.legacy,
                       allow_undelegated=a.allow_undelegated, sram_budget=sram)
    rep = memory_of_pte(dest)
    print(f"wrote {dest} ({info['pte_bytes']:,d} B, {info['delegates']} delegate(s), "
          f"{len(info['undelegated'])} op(s) outside)  arena {fmt_bytes(rep.arena_bytes)}  "
          f"SRAM ({'input + ' if rep.input_in_sram else ''}arena) {fmt_bytes(rep.total_sram_bytes)}  "
          f"weights {fmt_bytes(rep.flash_bytes)}")
    for node, why in info["rejections"].items():
        print(f"  not delegated: {node}: {why}", file=sys.stderr)
    return 0


def _pre_parse(argv: list[str], options: Sequence[str]) -> argparse.Namespace:
    """The .pte and the options of a pass-through command (memory, run-mcu), read before its own parser runs, so
    that they are checked first; every option taking a value is named, so that no value is taken for the .pte."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("pte", nargs="?")
    for opt in options:
        ap.add_argument(opt)
    return ap.parse_known_args(argv)[0]


def cmd_memory(argv: list[str]) -> int:
    """Passes through to the backend's memory report (mcuformer.backend.memory.report.memory_main) once the .pte
    and the budget are checked."""
    from mcuformer.backend.memory.report import memory_main  # noqa: PLC0415

    if "-h" in argv or "--help" in argv:
        return memory_main(["--help"])
    known = _pre_parse(argv, ("--budget", "--json", "--png"))
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
        memory_reports(verify_pte(known.pte))
    return memory_main(argv)


def cmd_build(a: argparse.Namespace) -> int:
    pte = verify_pte(a.pte).path
    dest = out_file(a.output) if a.output else None
    fw = stage_build(pte, a.board, a.target, arena_bytes=a.arena_bytes, stack_bytes=a.stack_bytes,
                     pte_region=a.pte_region, frame_region=a.frame_region, kernels=a.kernels)
    elf = fw.elf
    if dest is not None:
        with atomic_path(dest) as tmp:
            shutil.copyfile(fw.elf, tmp)
        elf = dest
    u = fw.usage
    ram, flash = fw.regions["RAM"][1], fw.regions["FLASH"][1]
    print(f"firmware {elf}  board {a.board} ({fw.target}'s budgets)  RAM {fmt_bytes(u.get('RAM'))} of "
          f"{fmt_bytes(ram)}  FLASH {fmt_bytes(u.get('FLASH'))} of {fmt_bytes(flash)}  QSPI {fmt_bytes(u.get('QSPI'))}"
          f"  (.pte in {fw.pte_region})")
    return 0


def cmd_run_mcu(argv: list[str]) -> int:
    """Passes through to mcuformer.mcu's runner once the .pte and the input are checked against each other."""
    from mcuformer import mcu  # noqa: PLC0415

    if not ("-h" in argv or "--help" in argv):
        known = _pre_parse(argv, ("--input", "--output", "--json", "--board", "--target", "--arena-bytes",
                                  "--stack-bytes", "--pte-region", "--runtime", "--kernels", "--frame-region",
                                  "--timeout"))
        if known.pte:
            pte = verify_pte(known.pte)
            if known.input:
                pte.check_input(load_npy(known.input), repr(known.input))
        elif known.input:
            load_npy(known.input)
        check_toolchain()
    return mcu.main(argv)


def cmd_report(a: argparse.Namespace) -> int:
    from .report import write_report  # noqa: PLC0415

    out = Path(a.out)
    summary = Summary.load(out / "summary.json")
    path = write_report(summary, Path(a.report_dir) if a.report_dir else out / "report")
    print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# Parser


def _add_common(p: argparse.ArgumentParser, out: bool = True, data: bool = True) -> None:
    if out:
        p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                       help=f"output folder: checkpoints, search results, .pte, report (default: {DEFAULT_OUT})")
    if data:
        p.add_argument("--data", "--data-dir", dest="data", default=None, metavar="PATH",
                       help="the data set: an image folder (one subfolder of PNG/JPEG images per class, or train/ "
                            "and test/ folders of those), an .npz (x, y, optional x_test, y_test), or a Fashion-MNIST "
                            "folder (default: /usr/share/datasets/fashion-mnist, Debian package dataset-fashion-mnist)")
        p.add_argument("--img-size", type=int, default=None, metavar="N",
                       help="resize every image to N x N (needed when a folder's images differ in size)")


def _add_sram_budget(p: argparse.ArgumentParser) -> None:
    from .targets import BOARDS  # noqa: PLC0415

    boards = ", ".join(f"{b.name} ({b.sram_bytes // 1024} KB SRAM, {b.flash_bytes // 1024 ** 2} MB flash, "
                       f"{b.clock_hz / 1e6:g} MHz)" for b in BOARDS.values())
    p.add_argument("--board", default=None, metavar="NAME",
                   help=f"the MCU: its SRAM (less the firmware's own), flash and clock become the search's budgets "
                        f"and the firmware's linker budgets; one of {boards} (default: {DEFAULT_BOARD}, with the "
                        f"main job's {DEFAULT_SRAM // 1024} KB SRAM budget unless --board or --sram is given)")
    p.add_argument("--sram", "--budget", dest="budget", type=parse_size, default=None, metavar="SIZE",
                   help="SRAM budget of the model (input + arena), overrides the board's; the deployed blob's token "
                        "loops run in the fastest multi-row tiles that fit it (0: one row per loop)")


def _add_budgets(p: argparse.ArgumentParser) -> None:
    _add_sram_budget(p)
    p.add_argument("--flash", "--flash-budget", dest="flash_budget", type=parse_size, default=None, metavar="SIZE",
                   help="flash budget (firmware + .pte), overrides the board's internal flash")
    p.add_argument("--latency-ms", type=_latency, default=DEFAULT_LATENCY_MS, metavar="MS",
                   help="latency budget: predicted instructions per inference at the board's clock, one per cycle "
                        f"(default: {DEFAULT_LATENCY_MS:g}; 'none': no latency budget)")


def _latency(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a latency: {text!r} (milliseconds, e.g. 50, or 'none')") from None


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
                    "ViT whose deployed memory (the backend's own planner), flash and predicted latency fit the "
                    "budgets; fine-tune it; quantize it to int8 (MCUFormerQuantizer) and lower it to a .pte "
                    "(MCUFormerPartitioner); plan its arena; build the Cortex-M7 firmware; run it in QEMU (mps2-an500 "
                    "with the board's SRAM and flash as linker budgets) on the test set with exact instruction counts; "
                    "write out/report/index.html and a summary table.\n\n"
                    "Resumable: rerunning after an interruption reuses the supernet/fine-tune checkpoints, the "
                    "search result, the .pte and the finished QEMU chunks in --out.")
    _add_budgets(r)
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
        "search", formatter_class=fmt,
        help="NAS: the most accurate sub-net that fits a board's SRAM, flash (and latency) budgets",
        description="Memory-budgeted architecture search (MCUFormer) on Fashion-MNIST: trains the weight-sharing "
                    "supernet into OUT/nas/supernet.pt (or resumes it), evolves the search space (patch size, "
                    "low-rank ratio), then runs an evolutionary search scored by inherited-weight validation "
                    "accuracy. Memory comes from the backend's own planner (plan_vit), so what fits here fits when "
                    "deployed; flash and latency from the backend's flash and cost-model predictors. The budgets are "
                    "the --board's unless given. Writes OUT/nas/search_<SRAM budget>.json (chosen arch, the binding "
                    "constraint, every candidate seen).")
    _add_budgets(s)
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
    _add_sram_budget(lo)  # the search's defaults: lower with the budget the sub-net was searched under
    _add_common(lo, out=False)
    lo.set_defaults(func=cmd_lower)

    sub.add_parser(
        "memory", add_help=False, help="memory report of a .pte: arena, live-set bound, peak, plots",
        description="(see `mcuformer memory --help`)")

    b = sub.add_parser(
        "build", formatter_class=fmt, help="build the Cortex-M7 firmware for a .pte",
        description="Builds the firmware (examples/stm32f746) that runs a .pte: the arena is sized from the plan in "
                    "the .pte, the .pte is linked into internal flash when it fits, else into QSPI, and the linker "
                    "enforces the --target's SRAM and flash (the STM32F746's 320 KB / 1 MB by default) and 16 MB "
                    "of QSPI. Builds are cached by content hash under "
                    "build/mcu/. Boards: qemu-mps2-an500 (runs in QEMU) and stm32f746 (the real board).")
    b.add_argument("pte", help="the .pte to build into the firmware")
    b.add_argument("--board", default="qemu-mps2-an500", choices=["qemu-mps2-an500", "stm32f746"],
                   help="target board (default: qemu-mps2-an500)")
    b.add_argument("--target", default=DEFAULT_BOARD, metavar="NAME",
                   help=f"the MCU whose SRAM and flash the linker enforces (mcuformer.targets; default: "
                        f"{DEFAULT_BOARD}; the stm32f746 board takes only its own)")
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
                    "the arena layout, accuracy vs SRAM and vs predicted latency of every candidate seen by the search "
                    "(the board's budgets drawn, the binding one named), and the per-operator instruction counts "
                    "measured in QEMU.")
    rp.add_argument("--report-dir", default=None, help="where to write the report (default: OUT/report)")
    _add_common(rp, data=False)
    rp.set_defaults(func=cmd_report)
    return p


PASSTHROUGH: dict[str, Callable[[list[str]], int]] = {"memory": cmd_memory, "run-mcu": cmd_run_mcu}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_third_party()
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
