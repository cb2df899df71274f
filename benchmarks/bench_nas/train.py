"""Training stage: one time-boxed run (GPU) that drives the supernet, baseline and search workers and packs their
weights, search results and recipe; `pack` packs a run driven stage by stage (benchmarks/nas_cpu.sh)."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import torch

from mcuformer.io import write_json_atomic
from mcuformer.nas.space import Arch, macs

from .common import (ABLATIONS, budget_key, budget_of, budgets, load_data, log, patches_of, run_name, setup_torch,
                     space_of, train_config)
from .search import worker_ranking, worker_search


def _recipe(a: argparse.Namespace, supernet_epochs: int) -> dict[str, Any]:
    return {
        "train_images": a.train_subset or 55000, "val_images_search": a.val_limit, "batch_size": a.batch_size,
        "supernet": {"epochs": supernet_epochs, "lr": a.lr, "num_random": 2, "distill": True,
                     "patches": list(patches_of(a)), "space": a.space},
        "finetune": {"epochs": a.finetune_epochs, "lr": a.lr / 2, "init": "supernet (inherited weights)"},
        "baseline": {"epochs": baseline_epochs(a, supernet_epochs), "lr": a.lr, "init": "scratch"},
        "scratch": "the searched architecture, trained as the baselines are (same recipe and epochs)",
        "search": {"space_evolution": {"iterations": a.space_iters, "samples_per_region": a.space_samples},
                   "evolution": {"population": a.population, "generations": a.generations, "parents": a.parents},
                   "rerank": {"top": a.rerank_top, "short_finetune": "1 epoch on 5,000 images (MAIN_JOB.rerank)"}},
        "ranking": {"subnets_per_budget": a.ranking_n, "scratch_epochs": a.ranking_epochs,
                    "scratch_images": a.ranking_subset},
        "ablations": list(ABLATIONS),
        "common": "AdamW wd 0.05, cosine to 1e-5, 100 warm-up steps, label smoothing 0.1, grad clip 1.0, "
                  + ("random crop (pad 2) + horizontal flip" if a.augment else "no augmentation"),
    }


def worker_supernet(a: argparse.Namespace) -> None:
    from mcuformer.nas.data import num_batches
    from mcuformer.nas.space import Region
    from mcuformer.nas.train import time_supernet_steps, train_supernet

    setup_torch()
    out = Path(a.out)
    data = load_data(a)
    space = space_of(a)
    region = Region(patches_of(a), space.rank_ratios)
    epochs = a.supernet_epochs
    calib: dict[str, Any] = {}
    if epochs <= 0:
        cfg = train_config(a, epochs=1, num_random=2)
        step_s = time_supernet_steps(space, cfg, region, data, steps=a.calib_steps)
        n = len(data.train.subset(a.train_subset))
        epoch_s = step_s * num_batches(n, a.batch_size, drop_last=True) + 2.0  # + end-of-epoch evaluation
        epochs = int(max(2, min(60, a.supernet_seconds / (a.contention * epoch_s))))
        calib = {"step_seconds": step_s, "epoch_seconds_est": epoch_s, "supernet_seconds": a.supernet_seconds}
        log(f"supernet calibration: {step_s * 1000:.1f} ms/step, ~{epoch_s:.1f} s/epoch -> {epochs} epochs")
    write_json_atomic(out / "calib.json", {"supernet_epochs": epochs, **calib})
    cfg = train_config(a, epochs=epochs, num_random=2)
    train_supernet(space, cfg, out / "supernet", region=region, data=data, progress=False)


def baseline_epochs(a: argparse.Namespace, supernet_epochs: int) -> int:
    """The baselines' (and the searched architecture's from-scratch) epochs: --baseline-epochs, or by default the
    supernet's + the fine-tune's (the same training time as the searched network's)."""
    return a.baseline_epochs or supernet_epochs + a.finetune_epochs


def _baseline_epochs(out: Path, a: argparse.Namespace) -> int:
    while not (out / "calib.json").exists():  # the supernet's epochs are known once it is calibrated
        time.sleep(0.5)
    return baseline_epochs(a, json.loads((out / "calib.json").read_text())["supernet_epochs"])


def worker_baseline(a: argparse.Namespace) -> None:
    """(c): every baseline candidate of the budget (one per patch size) from scratch."""
    from mcuformer.nas.train import finetune

    setup_torch()
    out = Path(a.out)
    epochs = _baseline_epochs(out, a)
    budget = budget_of(a.budget)
    plan = json.loads(Path(a.plan).read_text())[a.budget]
    data = load_data(a)
    archs = sorted((Arch.from_dict(x["arch"]) for x in plan["baselines"]), key=lambda x: -macs(x))
    for i, arch in enumerate(archs):
        log(f"baseline {a.budget}: {arch.short()} for {epochs} epochs")
        finetune(arch, train_config(a, epochs=epochs), out / f"{run_name('base', budget)}_{i}", data=data,
                 progress=False)


def worker_scratch(a: argparse.Namespace) -> None:
    """(b): the searched architecture of the budget from scratch, with exactly the baselines' recipe and epochs."""
    from mcuformer.nas.pipeline import SearchResult
    from mcuformer.nas.train import finetune

    setup_torch()
    out = Path(a.out)
    epochs = _baseline_epochs(out, a)
    budget = budget_of(a.budget)
    name = run_name("search", budget)
    while not (out / name / f"{name}.json").exists():
        time.sleep(1.0)
    arch = SearchResult.load(out / name / f"{name}.json").arch
    log(f"scratch {a.budget}: {arch.short()} for {epochs} epochs")
    finetune(arch, train_config(a, epochs=epochs), out / run_name("scratch", budget), data=load_data(a), progress=False)


def _pack(out: Path, dest: Path, recipe: dict[str, Any], timings: dict[str, Any], device_name: str) -> None:
    """Weights only (no optimizer state), search results, histories and the recipe -> dest/nas_bundle.tar."""
    from mcuformer.nas.checkpoint import load_checkpoint

    stage = out / "pack"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    manifest: dict[str, Any] = {"recipe": recipe, "timings": timings, "device": device_name, "models": {}}
    for ck in sorted(out.glob("*/finetune.pt")):
        try:
            st = load_checkpoint(ck, "finetune")
        except Exception as e:  # noqa: BLE001 - a half-written run is reported, not fatal
            manifest["models"][ck.parent.name] = {"error": str(e)}
            continue
        torch.save({"arch": st["meta"]["arch"], "model": st["model"], "history": st["history"],
                    "epochs_done": st["epoch"], "epochs_planned": st["config"]["epochs"],
                    "from_supernet": st["meta"]["from_supernet"]}, stage / f"{ck.parent.name}.pt")
        manifest["models"][ck.parent.name] = {"epochs_done": st["epoch"], "epochs_planned": st["config"]["epochs"],
                                              "last": st["history"][-1] if st["history"] else None}
    sn = out / "supernet" / "supernet.pt"
    if sn.exists():
        st = load_checkpoint(sn, "supernet")
        manifest["supernet"] = {"epochs_done": st["epoch"], "epochs_planned": st["config"]["epochs"],
                                "history": st["history"]}
        torch.save({"meta": st["meta"], "model": {k: v.half() for k, v in st["model"].items()},
                    "epochs_done": st["epoch"]}, dest / "supernet_fp16.pt")
    for sj in sorted(out.glob("search_*/search_*.json")):
        if sj.stem == sj.parent.name:  # not pipeline.search's own copy (named by SRAM)
            shutil.copy(sj, stage / sj.name)
    for rj in sorted(out.glob("ranking_*/ranking.json")):
        shutil.copy(rj, stage / f"{rj.parent.name}.json")
    if (out / "calib.json").exists():
        shutil.copy(out / "calib.json", stage / "calib.json")
    for lg in sorted((out / "logs").glob("*.log")):
        shutil.copy(lg, stage / lg.name)
    write_json_atomic(stage / "manifest.json", manifest)
    # one tar per budget (a file that comes back from the GPU machine holds at most 16 MiB) + one for the rest
    groups: dict[str, list[Path]] = {"common": []}
    for f in sorted(stage.iterdir()):
        b = next((k for k in map(budget_key, budgets()) if f"_{k}" in f.name), None)
        groups.setdefault(b or "common", []).append(f)
    for g, files in groups.items():
        tmp = dest / f"nas_{g}.tar.tmp"
        with tarfile.open(tmp, "w") as tf:
            for f in files:
                tf.add(f, arcname=f"bundle/{f.name}")
        os.replace(tmp, dest / f"nas_{g}.tar")


def cmd_train(a: argparse.Namespace) -> int:
    t0 = time.time()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    pack = Path(a.pack) if a.pack else out
    pack.mkdir(parents=True, exist_ok=True)
    device_name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    log(f"train: device {device_name}, deadline {a.deadline} s")
    if not Path(a.plan).exists():
        raise SystemExit(f"{a.plan} missing: run `python -m benchmarks.bench_nas plan` first")
    common: list[str] = []
    for k, v in vars(a).items():
        if k in ("cmd", "func", "pack", "deadline", "role", "budget", "ablation", "results") or v is None:
            continue
        f = k.replace("_", "-")
        common += ([f"--{f}" if v else f"--no-{f}"] if isinstance(v, bool) else
                   [f"--{f}", *map(str, v)] if isinstance(v, list) else [f"--{f}={v}"])
    procs: dict[str, subprocess.Popen] = {}
    logs = out / "logs"
    logs.mkdir(exist_ok=True)

    def spawn(name: str, *extra: str) -> None:
        f = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        procs[name] = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_nas", "worker", *extra, *common],
                                       stdout=f, stderr=subprocess.STDOUT, start_new_session=True)

    def alive(name: str) -> bool:
        return name in procs and procs[name].poll() is None

    def kill(name: str) -> None:
        if alive(name):
            os.killpg(procs[name].pid, signal.SIGKILL)
            procs[name].wait()
            log(f"killed {name} at the deadline")

    try:
        return _drive(a, t0, out, pack, device_name, procs, spawn, alive, kill, logs)
    finally:
        for n in list(procs):
            kill(n)


def _drive(a, t0, out, pack, device_name, procs, spawn, alive, kill, logs) -> int:  # noqa: ANN001
    timings: dict[str, Any] = {}
    left = lambda: a.deadline - (time.time() - t0)  # noqa: E731
    spawn("supernet", "--role=supernet")
    while not (out / "calib.json").exists() and alive("supernet") and left() > 0:
        time.sleep(0.5)
    if not (out / "calib.json").exists():
        _pack(out, pack, _recipe(a, 0), timings, device_name)
        raise SystemExit("supernet calibration failed: see " + str(logs / "supernet.log"))
    s_epochs = json.loads((out / "calib.json").read_text())["supernet_epochs"]
    timings["calibrated_at_s"] = round(time.time() - t0, 1)
    if a.baselines == "with-supernet":
        for k in map(budget_key, budgets()):
            spawn(f"base_{k}", "--role=baseline", f"--budget={k}")
    sn_deadline = a.deadline - a.after_supernet_seconds
    while alive("supernet") and time.time() - t0 < sn_deadline:
        time.sleep(1)
    kill("supernet")
    timings["supernet_done_s"] = round(time.time() - t0, 1)
    recipe = _recipe(a, s_epochs)
    _pack(out, pack, recipe, timings, device_name)
    if not (out / "supernet" / "supernet.pt").exists():
        raise SystemExit("no supernet checkpoint: see " + str(logs / "supernet.log"))
    spawn("ranking", "--role=ranking")
    for k in map(budget_key, budgets()):
        spawn(f"search_{k}", "--role=search", f"--budget={k}")
        spawn(f"scratch_{k}", "--role=scratch", f"--budget={k}")  # waits for its search
        for ab in ABLATIONS:
            spawn(f"search_{k}_{ab}", "--role=search", f"--budget={k}", f"--ablation={ab}")
        if a.baselines == "with-search":
            spawn(f"base_{k}", "--role=baseline", f"--budget={k}")
    last_pack = time.time()
    while any(alive(n) for n in procs) and left() > a.pack_seconds:
        time.sleep(1)
        if time.time() - last_pack > a.repack_every:  # so that a run killed from outside still returns weights
            timings["repacked_at_s"] = round(time.time() - t0, 1)
            _pack(out, pack, recipe, timings, device_name)
            last_pack = time.time()
    for n in list(procs):
        kill(n)
    timings["end_s"] = round(time.time() - t0, 1)
    timings["exit_codes"] = {n: p.returncode for n, p in procs.items()}
    _pack(out, pack, recipe, timings, device_name)
    log(f"packed {pack}/nas_*.tar after {time.time() - t0:.0f} s; exit codes {timings['exit_codes']}")
    return 0


def cmd_pack(a: argparse.Namespace) -> int:
    """Packs a run driven stage by stage (benchmarks/nas_cpu.sh) the way `train` does, for `evaluate`."""
    out = Path(a.out)
    s_epochs = json.loads((out / "calib.json").read_text())["supernet_epochs"]
    device_name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else \
        f"host CPU ({os.cpu_count()} cores, {a.threads} torch thread(s) per stage)"
    _pack(out, Path(a.pack or out), _recipe(a, s_epochs), {}, device_name)
    return 0


def cmd_worker(a: argparse.Namespace) -> int:
    if a.threads:
        torch.set_num_threads(a.threads)
    {"supernet": worker_supernet, "baseline": worker_baseline, "search": worker_search, "scratch": worker_scratch,
     "ranking": worker_ranking}[a.role](a)
    return 0
