"""Issue 5's benchmark: the searched sub-net against the best hand-designed uniform ViT at 16 / 32 / 64 KB SRAM on
Fashion-MNIST, deployed through ExecuTorch's runtime with the MCUFormer C++ delegate; and the 240 px shape-only
search (320 KB, our planner vs the paper's formula).

Three stages (the first needs a GPU to be worth running, the others run on a CPU):

    python benchmarks/nas.py train --out runs/nas_bench/gpu --deadline 260 --pack $OUT
        one time-boxed run: supernet (all patch sizes, sandwich + in-place distillation) -> for each budget,
        search-space evolution + evolutionary search (planner-checked) -> fine-tune; in parallel, the hand-designed
        baselines from scratch for (supernet + fine-tune) epochs. Packs weights, search results and the recipe into
        nas_bundle.tar (and the supernet in fp16).
    python benchmarks/nas.py evaluate --bundle runs/nas_bench/bundle
        fp32 test top-1 (10k), quantize (MCUFormerQuantizer, int8 input) -> lower (MCUFormerPartitioner) -> .pte,
        int8 top-1 on all 10k test images through ExecuTorch's runtime + the C++ delegate, SRAM (plan_vit and the
        .pte's own plan), flash, Cortex-M7 instructions per inference (QEMU, mcuformer.mcu.run_mcu);
        writes benchmarks/results/nas.json, nas.md, nas_pareto.png.
    python benchmarks/nas.py shape240          # 240 px, MCUFormer's space, 320 KB (nas_meta.json, "shape240")

Without a GPU, benchmarks/nas_cpu.sh runs the same stages on a 2-core CPU (`worker` per stage, two at a time, then
`pack` and `evaluate --results benchmarks/results/nas_cpu`): patch 7 and the main job's small space, about an hour.

Budgets: SRAM 16 / 32 / 64 KB, each paired with a flash budget of 8x (128 / 256 / 512 KB of weights, the usual
SRAM:flash ratio of such parts); both are checked with the backend's planner (plan_vit), the one that deploys.
Baseline ("hand-designed"): uniform, full rank, standard ViT rule (attention width == embedding), for each patch size
the largest (MACs) that fits both budgets; all are trained and the best on the validation split is reported.
"""
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

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
KB = 1024
BUDGETS = [(16 * KB, 128 * KB), (32 * KB, 256 * KB), (64 * KB, 512 * KB)]  # (SRAM, flash) bytes


# ---- imports without an installed package (the GPU machine has torch but neither mcuformer nor executorch) ----------
def _bootstrap() -> None:
    import importlib.util
    import types

    try:
        import mcuformer.nas  # noqa: F401
        installed = os.environ.get("MCUFORMER_FORCE_BOOTSTRAP") != "1"
    except ImportError:
        installed = False
    if not installed:
        pkg = types.ModuleType("mcuformer")
        pkg.__path__ = [str(REPO / "mcuformer")]
        sys.modules["mcuformer"] = pkg
        spec = importlib.util.spec_from_file_location("mcuformer.nas", REPO / "nas" / "__init__.py",
                                                      submodule_search_locations=[str(REPO / "nas")])
        mod = importlib.util.module_from_spec(spec)
        sys.modules["mcuformer.nas"] = mod
        spec.loader.exec_module(mod)
    try:
        import executorch.exir  # noqa: F401
        has_et = os.environ.get("MCUFORMER_NO_EXECUTORCH") != "1"
    except ImportError:
        has_et = False
    if not has_et and "mcuformer.backend" not in sys.modules:
        # the planner (backend/memory, passes, ir) needs numpy only; skip backend/__init__ (it imports executorch)
        be = types.ModuleType("mcuformer.backend")
        be.__path__ = [str(REPO / "backend")]
        sys.modules["mcuformer.backend"] = be


_bootstrap()

import torch  # noqa: E402

from mcuformer.nas.space import FMNIST_SPACE, Arch, macs, param_count  # noqa: E402


def log(*a: Any) -> None:
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


# ==== baselines ========================================================================================================
def baseline_candidates(sram: int, flash: int, patches: tuple[int, ...] | None = None) -> list[Arch]:
    """For each patch size (all of FMNIST_SPACE's, or ``patches``), the largest-MACs standard uniform full-rank ViT
    of FMNIST_SPACE that fits both budgets."""
    from mcuformer.nas.predictors.memory import planner_predictor
    from mcuformer.nas.search.common import Budget, MemoryCache
    from mcuformer.nas.space import iter_uniform

    mem = MemoryCache(planner_predictor(), Budget(sram, flash))
    out = []
    for p in patches or FMNIST_SPACE.patch_sizes:
        fit = [a for a in iter_uniform(FMNIST_SPACE, standard=True) if a.patch_size == p and mem.fits(a)]
        if fit:
            out.append(max(fit, key=lambda a: (macs(a), -mem(a).total_sram_bytes)))
    return out


def cmd_plan(a: argparse.Namespace) -> int:
    plan = {str(s): {"flash_budget_bytes": f,
                     "baselines": [x.to_dict() for x in baseline_candidates(s, f, tuple(a.patches or ()))]}
            for s, f in BUDGETS}
    _write_json(Path(a.out), plan)
    for k, v in plan.items():
        log(k, [Arch.from_dict(x).short() for x in v["baselines"]])
    return 0


# ==== training (one time-boxed run; GPU) ================================================================================
def _recipe(a: argparse.Namespace, supernet_epochs: int) -> dict[str, Any]:
    return {
        "train_images": a.train_subset or 55000, "val_images_search": a.val_limit, "batch_size": a.batch_size,
        "supernet": {"epochs": supernet_epochs, "lr": a.lr, "num_random": 2, "distill": True,
                     "patches": list(_patches(a)), "space": a.space},
        "finetune": {"epochs": a.finetune_epochs, "lr": a.lr / 2, "init": "supernet (inherited weights)"},
        "baseline": {"epochs": supernet_epochs + a.finetune_epochs, "lr": a.lr, "init": "scratch"},
        "search": {"space_evolution": {"iterations": a.space_iters, "samples_per_region": a.space_samples},
                   "evolution": {"population": a.population, "generations": a.generations, "parents": a.parents}},
        "common": "AdamW wd 0.05, cosine to 1e-5, 100 warm-up steps, label smoothing 0.1, random crop (pad 2) + "
                  "horizontal flip, grad clip 1.0",
    }


def _cfg(a: argparse.Namespace, **kw: Any):
    from mcuformer.nas.train import TrainConfig

    base = dict(batch_size=a.batch_size, lr=a.lr, train_subset=a.train_subset, eval_size=a.val_limit,
                device=a.device, num_threads=a.threads, warmup_steps=100)
    base.update(kw)
    return TrainConfig(**base)


def _data(a: argparse.Namespace):
    from mcuformer.nas.data import load_fashion_mnist

    return load_fashion_mnist(a.data_dir)


def _space(a: argparse.Namespace):
    from mcuformer.nas.space import SPACES

    return SPACES[a.space]


def _patches(a: argparse.Namespace) -> tuple[int, ...]:
    return tuple(a.patches) if a.patches else _space(a).patch_sizes


def _setup_torch() -> None:
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")  # TF32 on the tensor cores


def worker_supernet(a: argparse.Namespace) -> None:
    from mcuformer.nas.data import num_batches
    from mcuformer.nas.space import Region
    from mcuformer.nas.train import time_supernet_steps, train_supernet

    _setup_torch()
    out = Path(a.out)
    data = _data(a)
    space = _space(a)
    region = Region(_patches(a), space.rank_ratios)
    epochs = a.supernet_epochs
    calib: dict[str, Any] = {}
    if epochs <= 0:
        cfg = _cfg(a, epochs=1, num_random=2)
        step_s = time_supernet_steps(space, cfg, region, data, steps=a.calib_steps)
        n = len(data.train.subset(a.train_subset))
        epoch_s = step_s * num_batches(n, a.batch_size, drop_last=True) + 2.0  # + end-of-epoch evaluation
        epochs = int(max(2, min(60, a.supernet_seconds / (a.contention * epoch_s))))
        calib = {"step_seconds": step_s, "epoch_seconds_est": epoch_s, "supernet_seconds": a.supernet_seconds}
        log(f"supernet calibration: {step_s * 1000:.1f} ms/step, ~{epoch_s:.1f} s/epoch -> {epochs} epochs")
    _write_json(out / "calib.json", {"supernet_epochs": epochs, **calib})
    cfg = _cfg(a, epochs=epochs, num_random=2)
    train_supernet(space, cfg, out / "supernet", region=region, data=data, progress=False)


def worker_baseline(a: argparse.Namespace) -> None:
    from mcuformer.nas.train import finetune

    _setup_torch()
    out = Path(a.out)
    while not (out / "calib.json").exists():
        time.sleep(0.5)
    s_epochs = json.loads((out / "calib.json").read_text())["supernet_epochs"]
    plan = json.loads(Path(a.plan).read_text())[str(a.budget)]
    data = _data(a)
    archs = sorted((Arch.from_dict(x) for x in plan["baselines"]), key=lambda x: -macs(x))
    for i, arch in enumerate(archs):
        log(f"baseline {a.budget}: {arch.short()} for {s_epochs + a.finetune_epochs} epochs")
        finetune(arch, _cfg(a, epochs=s_epochs + a.finetune_epochs), out / f"base_{a.budget}_{i}", data=data,
                 progress=False)


def worker_search(a: argparse.Namespace) -> None:
    from mcuformer.nas import pipeline as P
    from mcuformer.nas.search.evolution import EvoConfig
    from mcuformer.nas.search.space_evolution import SpaceEvoConfig
    from mcuformer.nas.train import _resolve_device, load_supernet

    _setup_torch()
    out = Path(a.out)
    data = _data(a)
    device = _resolve_device(a.device)
    preset = P.Preset(
        supernet=_cfg(a), finetune=_cfg(a, epochs=a.finetune_epochs, lr=a.lr / 2),
        evo=EvoConfig(population=a.population, generations=a.generations, num_parents=a.parents),
        space_evo=SpaceEvoConfig(iterations=a.space_iters, samples_per_region=a.space_samples),
        train_patches=_patches(a), val_limit=a.val_limit, space=_space(a))
    flash = dict(BUDGETS)[a.budget]
    sn_path = out / "supernet" / "supernet.pt"
    sn = load_supernet(sn_path)
    res = P.search(a.budget, flash, supernet=sn, preset=preset, data=data, out_dir=out / f"search_{a.budget}",
                   progress=False, device=device)
    res.supernet_path = str(sn_path)
    res.save(out / f"search_{a.budget}" / f"search_{a.budget}.json")
    log(f"search {a.budget}: {res.arch.short()} val {res.val_acc:.4f} SRAM {res.sram_bytes} flash {res.flash_bytes} "
        f"({len(res.candidates)} scored, {res.seconds:.0f} s)")
    P.finetune_searched(res, a.finetune_epochs, supernet=sn, out_dir=out / f"ft_{a.budget}", preset=preset,
                        data=data, progress=False)


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
        shutil.copy(sj, stage / sj.name)
    if (out / "calib.json").exists():
        shutil.copy(out / "calib.json", stage / "calib.json")
    for lg in sorted((out / "logs").glob("*.log")):
        shutil.copy(lg, stage / lg.name)
    _write_json(stage / "manifest.json", manifest)
    # one tar per budget (a file that comes back from the GPU machine holds at most 16 MiB) + one for the rest
    groups: dict[str, list[Path]] = {"common": []}
    for f in sorted(stage.iterdir()):
        b = next((str(s) for s, _ in BUDGETS if f"_{s}" in f.name), None)
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
        raise SystemExit(f"{a.plan} missing: run `python benchmarks/nas.py plan` first")
    common: list[str] = []
    for k, v in vars(a).items():
        if k in ("cmd", "func", "pack", "deadline", "role", "budget", "results") or v is None:
            continue
        common += [f"--{k.replace('_', '-')}", *map(str, v)] if isinstance(v, list) else [f"--{k.replace('_', '-')}={v}"]
    procs: dict[str, subprocess.Popen] = {}
    logs = out / "logs"
    logs.mkdir(exist_ok=True)

    def spawn(name: str, *extra: str) -> None:
        f = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        procs[name] = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "worker", *extra, *common],
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
        for sram, _ in BUDGETS:
            spawn(f"base_{sram}", "--role=baseline", f"--budget={sram}")
    sn_deadline = a.deadline - a.after_supernet_seconds
    while alive("supernet") and time.time() - t0 < sn_deadline:
        time.sleep(1)
    kill("supernet")
    timings["supernet_done_s"] = round(time.time() - t0, 1)
    recipe = _recipe(a, s_epochs)
    _pack(out, pack, recipe, timings, device_name)
    if not (out / "supernet" / "supernet.pt").exists():
        raise SystemExit("no supernet checkpoint: see " + str(logs / "supernet.log"))
    for sram, _ in BUDGETS:
        spawn(f"search_{sram}", "--role=search", f"--budget={sram}")
        if a.baselines == "with-search":
            spawn(f"base_{sram}", "--role=baseline", f"--budget={sram}")
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
    {"supernet": worker_supernet, "baseline": worker_baseline, "search": worker_search}[a.role](a)
    return 0


# ==== evaluation (CPU): fp32, int8 through ExecuTorch + C++ delegate, memory, QEMU ===================================
def _load_vit(path: Path):
    from mcuformer.nas.vit import ViT

    st = torch.load(path, map_location="cpu", weights_only=True)
    vit = ViT(Arch.from_dict(st["arch"]))
    vit.load_state_dict(st["model"])
    return vit.eval(), st


def deploy_and_eval(vit, data, work: Path, name: str, qemu_images: int, skip_qemu: bool) -> dict[str, Any]:
    """int8-input .pte (what plan_vit budgets), 10k test images through ExecuTorch's runtime, memory, QEMU."""
    from mcuformer.backend.memory import plan_vit
    from mcuformer.backend.memory.report import blob_report
    from mcuformer.backend.pipeline import lower, quantize
    from mcuformer.backend.runtime_loader import run_pte
    from mcuformer.nas.data import calibration_images, normalize

    arch = vit.arch
    t0 = time.time()
    calib = calibration_images(data)  # the main job's calibration: the same network gives the same .pte
    example = (calib[0],)
    q = quantize(vit, example, calib)
    lowered = lower(q, example, overwrite_input=True, int8_input=True)
    scale, zp = lowered.input_qparams
    assert lowered.undelegated_ops() == [], lowered.undelegated_ops()
    blob = lowered.programs()[0]
    pte = lowered.to_pte()
    pte_path = work / f"{name}.pte"
    pte_path.write_bytes(pte)
    rep = blob_report(blob)
    plan = plan_vit(arch)
    lower_s = time.time() - t0

    t0 = time.time()
    x8 = lowered.quantize_input(normalize(data.test.images).numpy())  # as the main job hands images to the device
    host = run_pte(pte, x8)
    int8_top1 = float((host.argmax(1) == data.test.labels.numpy()).mean())
    host_s = time.time() - t0
    row = {"int8_top1": int8_top1, "test_images": len(data.test), "host_seconds_10k": round(host_s, 1),
           "lower_seconds": round(lower_s, 1), "sram_bytes": rep.total_sram_bytes,
           "plan_vit_sram_bytes": plan.total_sram_bytes, "sram_matches_plan_vit": rep.total_sram_bytes ==
           plan.total_sram_bytes, "arena_bytes": rep.arena_bytes, "weights_bytes": rep.flash_bytes,
           "pte_bytes": len(pte), "input_scale": float(scale), "input_zero_point": int(zp)}
    log(f"{name}: int8 {100 * int8_top1:.2f}% on 10k ({host_s:.0f} s), SRAM {rep.total_sram_bytes} "
        f"(plan_vit {plan.total_sram_bytes}), weights {rep.flash_bytes}, .pte {len(pte)}")
    if not skip_qemu:
        row["mcu"] = qemu_row(pte_path, x8[:qemu_images], host[:qemu_images], name)
    return row


def qemu_row(pte_path: Path, x8, host, name: str) -> dict[str, Any]:
    """One QEMU boot on the int8 images x8: instructions per inference, RAM/flash, identical to the host's outputs
    (``host``, from ExecuTorch's runtime) on them?"""
    import numpy as np

    from mcuformer import mcu

    t0 = time.time()
    try:
        outs, s = mcu.run_mcu(pte_path, x8, timeout=1800, frame_region="RAM")  # as the main job: image in SRAM
    except Exception as e:  # noqa: BLE001 - recorded; `qemu` re-runs it later
        log(f"{name}: QEMU failed: {type(e).__name__}: {str(e)[:300]}")
        return {"error": f"{type(e).__name__}: {str(e)[:500]}"}
    row = {k: s.get(k) for k in ("board", "instructions", "instructions_min", "instructions_max", "ram_bytes",
                                 "flash_bytes", "qspi_bytes", "arena_bytes", "pte_region", "kernels", "inferences")}
    row["images"] = len(x8)
    row["identical_to_host"] = bool(np.array_equal(np.asarray(outs).reshape(host.shape), host))
    row["seconds"] = round(time.time() - t0, 1)
    log(f"{name}: QEMU {s.get('instructions')} instructions/inference, RAM {s.get('ram_bytes')}, "
        f"flash {s.get('flash_bytes')}, identical {row['identical_to_host']}")
    return row


def cmd_qemu(a: argparse.Namespace) -> int:
    """Fill in (or redo) the QEMU numbers of nas.json from the .pte files `evaluate` saved."""
    from mcuformer.backend.quant_math import quantize_f32
    from mcuformer.backend.runtime_loader import run_pte
    from mcuformer.nas.data import load_fashion_mnist, normalize

    doc = _load()
    data = load_fashion_mnist()
    xs = normalize(data.test.images[: a.qemu_images]).numpy()
    for r in doc["rows"]:
        for side in ("searched", "baseline"):
            dep = r.get(f"{side}_deploy")
            if not dep or (dep.get("mcu") or {}).get("instructions") and not a.force:
                continue
            pte = Path(a.work) / f"{side}_{r['budget_bytes']}.pte"
            x8 = quantize_f32(xs, 1.0 / dep["input_scale"], dep["input_zero_point"])
            dep["mcu"] = qemu_row(pte, x8, run_pte(pte, x8), f"{side}_{r['budget_bytes']}")
            r[f"{side}_instructions"] = dep["mcu"].get("instructions")
    _save(doc)
    return 0


def cmd_scratch(a: argparse.Namespace) -> int:
    """Diagnostic: the searched architecture trained from scratch with the baselines' recipe and epochs (no supernet
    weights), deployed the same way; added to its row as searched_arch_scratch_*. Separates the architecture the
    search chose from the quality of the inherited weights."""
    from mcuformer.nas.data import load_fashion_mnist
    from mcuformer.nas.train import TrainConfig, evaluate, finetune

    torch.set_num_threads(a.threads)
    bundle = Path(a.bundle)
    rec = json.loads((bundle / "manifest.json").read_text())["recipe"]
    from mcuformer.nas.pipeline import SearchResult

    arch = SearchResult.load(bundle / f"search_{a.budget * KB}.json").arch
    data = load_fashion_mnist()
    cfg = TrainConfig(epochs=rec["baseline"]["epochs"], batch_size=rec["batch_size"], lr=rec["baseline"]["lr"],
                      warmup_steps=100, eval_size=2000, device="cpu", num_threads=a.threads)
    t0 = time.time()
    vit = finetune(arch, cfg, Path(a.work) / f"scratch_{a.budget * KB}", data=data, progress=False).eval()
    secs = time.time() - t0
    fp32 = evaluate(vit, data.test)
    dep = deploy_and_eval(vit, data, Path(a.work), f"scratch_{a.budget * KB}", 0, True)
    side = RESULTS / "nas_scratch.json"
    extra = json.loads(side.read_text()) if side.exists() else {}
    extra[str(a.budget * KB)] = {
        "searched_arch_scratch_fp32_top1": fp32, "searched_arch_scratch_int8_top1": dep["int8_top1"],
        "searched_arch_scratch_epochs": cfg.epochs, "searched_arch_scratch_lr": cfg.lr,
        "searched_arch_scratch_trained_on": f"host CPU, {a.threads} thread(s), {secs:.0f} s"}
    _write_json(side, extra)
    if (RESULTS / "nas.json").exists():
        _save(_load())
    return 0


def cmd_render(a: argparse.Namespace) -> int:
    """Re-render nas.md / nas_pareto.png from nas.json (+ side files); --note appends to its notes."""
    doc = _load()
    if a.clear_notes:
        doc["notes"] = []
    doc.setdefault("notes", []).extend(a.note or [])
    _save(doc)
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from mcuformer.nas.data import load_fashion_mnist
    from mcuformer.nas.pipeline import SearchResult
    from mcuformer.nas.train import evaluate

    torch.set_num_threads(a.threads or 1)
    bundle = Path(a.bundle)
    if not (bundle / "manifest.json").exists():  # a folder of nas_*.tar files (from `train --pack`)
        for t in sorted(bundle.glob("nas_*.tar")):
            with tarfile.open(t) as tf:
                tf.extractall(Path(a.work), filter="data")
        bundle = Path(a.work) / "bundle"
    man = json.loads((bundle / "manifest.json").read_text())
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    data = load_fashion_mnist()
    rows = []
    pareto: dict[str, Any] = {}
    for sram, flash in BUDGETS:
        if a.budgets and sram // KB not in a.budgets:
            continue
        sj = bundle / f"search_{sram}.json"
        if not sj.exists() or not (bundle / f"ft_{sram}.pt").exists():
            log(f"budget {sram}: no searched model in the bundle")
            continue
        res = SearchResult.load(sj)
        cands = [c for c in res.candidates if c.fits and c.score is not None]
        pareto[str(sram)] = [{"sram_bytes": c.sram_bytes, "val_acc": c.score, "short": c.arch.short()} for c in cands]
        vit, st = _load_vit(bundle / f"ft_{sram}.pt")
        row: dict[str, Any] = {"budget_bytes": sram, "flash_budget_bytes": flash}
        fp32 = evaluate(vit, data.test)
        dep = deploy_and_eval(vit, data, work, f"searched_{sram}", a.qemu_images, a.skip_qemu)
        row.update({
            "sram_bytes": dep["sram_bytes"], "searched_int8_top1": dep["int8_top1"], "searched_fp32_top1": fp32,
            "searched_arch": vit.arch.to_dict(), "searched_short": vit.arch.short(), "searched_macs": macs(vit.arch),
            "searched_params": param_count(vit.arch), "searched_val_inherited": res.val_acc,
            "searched_val_finetuned": st["history"][-1].get("val") if st["history"] else None,
            "searched_epochs": {"supernet": man.get("supernet", {}).get("epochs_done"),
                                "finetune": st["epochs_done"], "finetune_planned": st["epochs_planned"]},
            "searched_flash_bytes": dep["weights_bytes"], "searched_deploy": dep,
            "searched_instructions": (dep.get("mcu") or {}).get("instructions"),
            "search": {"candidates_scored": len(cands), "region": res.region.to_dict() if res.region else None,
                       "seconds": res.seconds},
        })
        # baselines: all candidates trained; the best on the validation split is "the" baseline
        bases = []
        for p in sorted(bundle.glob(f"base_{sram}_*.pt")):
            bv, bst = _load_vit(p)
            bases.append((bst["history"][-1].get("val", 0.0) if bst["history"] else 0.0, p.stem, bv, bst))
        if bases:
            val, stem, bv, bst = max(bases, key=lambda t: t[0])
            bfp32 = evaluate(bv, data.test)
            bdep = deploy_and_eval(bv, data, work, f"baseline_{sram}", a.qemu_images, a.skip_qemu)
            row.update({
                "baseline_int8_top1": bdep["int8_top1"], "baseline_fp32_top1": bfp32,
                "baseline_sram_bytes": bdep["sram_bytes"], "baseline_flash_bytes": bdep["weights_bytes"],
                "baseline_arch": bv.arch.to_dict(), "baseline_short": bv.arch.short(), "baseline_macs": macs(bv.arch),
                "baseline_params": param_count(bv.arch), "baseline_val": val,
                "baseline_epochs": {"scratch": bst["epochs_done"], "planned": bst["epochs_planned"]},
                "baseline_deploy": bdep, "baseline_instructions": (bdep.get("mcu") or {}).get("instructions"),
                "baseline_candidates": [{"short": b[2].arch.short(), "val": b[0], "macs": macs(b[2].arch),
                                         "epochs_done": b[3]["epochs_done"]} for b in bases],
            })
        else:
            row.update({"baseline_int8_top1": None, "baseline_fp32_top1": None})
        row["trained_on"] = man.get("device")
        row["recipe"] = man.get("recipe")
        rows.append(row)
        _write_json(work / "rows_partial.json", rows)
    doc = {
        "benchmark": "issue 5: searched sub-net vs best hand-designed uniform ViT, Fashion-MNIST 28x28",
        "rows": rows,
        "recipe": man.get("recipe"), "trained_on": man.get("device"), "train_timings": man.get("timings"),
        "supernet": man.get("supernet"), "pareto_candidates": pareto,
        "evaluated_on": "host CPU (int8: ExecuTorch runtime + MCUFormer C++ delegate, all 10k test images); "
                        "instructions: QEMU mps2-an500 Cortex-M7, TCG plugin",
        "date": time.strftime("%Y-%m-%d"),
    }
    _save(doc)  # adds "shape240" from nas_shape240.json
    return 0


# nas.json: a list of rows, one per budget (budget_bytes, sram_bytes, searched_int8_top1, baseline_int8_top1, ...);
# nas_meta.json: recipe, timings, notes and "shape240"; nas_pareto_candidates.json: the candidates seen.
def _load() -> dict[str, Any]:
    """The whole benchmark document (rows + metadata + Pareto candidates), or an empty one."""
    rows, meta, pc = RESULTS / "nas.json", RESULTS / "nas_meta.json", RESULTS / "nas_pareto_candidates.json"
    doc = json.loads(meta.read_text()) if meta.exists() else {}
    doc["rows"] = json.loads(rows.read_text()) if rows.exists() else []
    doc["pareto_candidates"] = json.loads(pc.read_text()) if pc.exists() else {}
    return doc


def _save(doc: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    s240 = RESULTS / "nas_shape240.json"
    if s240.exists():
        doc["shape240"] = json.loads(s240.read_text())
    rows = doc["rows"]
    scratch = RESULTS / "nas_scratch.json"
    if scratch.exists():
        for r in rows:
            r.update(json.loads(scratch.read_text()).get(str(r["budget_bytes"]), {}))
    _write_json(RESULTS / "nas.json", rows)
    _write_json(RESULTS / "nas_meta.json", {k: v for k, v in doc.items() if k not in ("rows", "pareto_candidates")})
    _write_json(RESULTS / "nas_pareto_candidates.json", doc.get("pareto_candidates", {}))
    _plot(doc)
    _markdown(doc)


def _plot(doc: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colors = {16 * KB: "tab:blue", 32 * KB: "tab:orange", 64 * KB: "tab:green"}
    for k, cands in (doc.get("pareto_candidates") or {}).items():
        b = int(k)
        xs = [c["sram_bytes"] / KB for c in cands]
        ys = [100 * c["val_acc"] for c in cands]
        ax.scatter(xs, ys, s=8, alpha=0.35, color=colors[b], label=f"candidates, {b // KB} KB search (inherited, val)")
        front, best = [], -1.0
        for x, y in sorted(zip(xs, ys)):
            if y > best:
                front.append((x, y))
                best = y
        if front:
            ax.step(*zip(*front), where="post", color=colors[b], lw=1, alpha=0.8)
        ax.axvline(b / KB, color=colors[b], ls=":", lw=1)
    for r in doc["rows"]:
        c = colors[r["budget_bytes"]]
        ax.scatter([r["sram_bytes"] / KB], [100 * r["searched_int8_top1"]], marker="*", s=220, color=c,
                   edgecolor="k", zorder=5, label=f"searched {r['budget_bytes'] // KB} KB (int8 test, deployed)")
        if r.get("baseline_int8_top1") is not None:
            ax.scatter([r["baseline_sram_bytes"] / KB], [100 * r["baseline_int8_top1"]], marker="s", s=90, color=c,
                       edgecolor="k", zorder=5, label=f"uniform baseline {r['budget_bytes'] // KB} KB (int8 test)")
    ax.set_xlabel("SRAM by the backend planner (KB)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title("Fashion-MNIST: candidates seen by the search vs the deployed networks")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    fig.savefig(RESULTS / "nas_pareto.png", dpi=120)
    plt.close(fig)


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _markdown(doc: dict[str, Any]) -> None:
    L = ["# NAS under the deployed memory budget (issue 5)", ""]
    rec = doc.get("recipe") or {}
    L += [f"Trained on: {doc.get('trained_on')}. Evaluated: {doc.get('evaluated_on')}. Date {doc.get('date')}.", ""]
    sn = doc.get("supernet") or {}
    if rec:
        done = sn.get("epochs_done", rec["supernet"]["epochs"])
        L += [f"Recipe: supernet on space {rec['supernet'].get('space')}, patch sizes {rec['supernet'].get('patches')} "
              "(sandwich: largest + smallest + 2 random sub-nets per step, "
              f"in-place distillation, lr {rec['supernet']['lr']}), **{done} of {rec['supernet']['epochs']} planned "
              "epochs done**" + (" (the run was time-boxed; see notes)" if done < rec["supernet"]["epochs"] else "")
              + ", then the searched sub-net, extracted with its "
              f"inherited weights, fine-tuned {rec['finetune']['epochs']} epochs (lr {rec['finetune']['lr']}); "
              f"baselines from scratch for {rec['baseline']['epochs']} epochs (lr {rec['baseline']['lr']}) = the "
              "planned supernet + fine-tune epochs. "
              f"{rec['train_images']} training images, batch {rec['batch_size']}; {rec['common']}. Search: space "
              f"evolution {rec['search']['space_evolution']}, evolution {rec['search']['evolution']}, inherited "
              f"accuracy on {rec['val_images_search']} held-out training images. The test set is used for these "
              "numbers only.", ""]
    L += ["| SRAM budget | flash budget | network | arch | MACs | SRAM (planner = .pte) | weights | fp32 top-1 | "
          "int8 top-1 (10k, C++ delegate) | Cortex-M7 instructions / inference |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        b, f = r["budget_bytes"] // KB, r["flash_budget_bytes"] // KB
        ins = r.get("searched_instructions")
        same = "=" if r["searched_deploy"]["sram_matches_plan_vit"] else "!="
        L.append(f"| {b} KB | {f} KB | searched | {r['searched_short']} | {r['searched_macs'] / 1e6:.1f} M | "
                 f"{r['sram_bytes']:,} B ({same}) | {r['searched_flash_bytes']:,} B | "
                 f"{_pct(r['searched_fp32_top1'])} | **{_pct(r['searched_int8_top1'])}** | "
                 f"{f'{ins:,}' if ins else '-'} |")
        if r.get("searched_arch_scratch_int8_top1") is not None:
            L.append(f"| {b} KB | {f} KB | searched arch, from scratch (diagnostic, {r['searched_arch_scratch_epochs']}"
                     f" epochs) | same | | | | {_pct(r['searched_arch_scratch_fp32_top1'])} | "
                     f"{_pct(r['searched_arch_scratch_int8_top1'])} | |")
        if r.get("baseline_int8_top1") is not None:
            ins = r.get("baseline_instructions")
            L.append(f"| {b} KB | {f} KB | uniform baseline | {r['baseline_short']} | {r['baseline_macs'] / 1e6:.1f} M"
                     f" | {r['baseline_sram_bytes']:,} B | {r['baseline_flash_bytes']:,} B | "
                     f"{_pct(r['baseline_fp32_top1'])} | **{_pct(r['baseline_int8_top1'])}** | "
                     f"{f'{ins:,}' if ins else '-'} |")
    wins = [r for r in doc["rows"] if r.get("baseline_int8_top1") is not None
            and r["searched_int8_top1"] > r["baseline_int8_top1"]]
    L += ["", f"Searched beats the uniform baseline at {len(wins)} of {len(doc['rows'])} budgets (int8, deployed). "
          + "; ".join(f"{r['budget_bytes'] // KB} KB: {100 * (r['searched_int8_top1'] - r['baseline_int8_top1']):+.2f}"
                      " points" for r in doc["rows"] if r.get("baseline_int8_top1") is not None) + "."]
    if doc.get("notes"):
        L += ["", "Notes:", ""] + [f"- {n}" for n in doc["notes"]]
    L += ["", "Baseline = for each patch size, the largest-MACs uniform full-rank ViT with attention width == "
          "embedding that fits both budgets by the planner; all were trained, the best on validation is shown "
          "(the others are in nas.json, `baseline_candidates`).", "",
          "![Pareto](nas_pareto.png)", ""]
    s240 = doc.get("shape240")
    if s240:
        L += ["## 240 px, MCUFormer's search space, 320 KB (shape only, no data)", "",
              f"{s240['samples']} shared random sub-nets; fit by: {s240['agreement']}", "",
              "| predictor | share of random sub-nets that fit | largest (MACs) that fits | MACs | planner SRAM | "
              "paper-formula bytes |", "|---|---|---|---|---|---|"]
        for name, r in s240["per_predictor"].items():
            t = r["top"][0] if r.get("top") else None
            L.append(f"| {name} | {100 * r['fit_share']:.1f}% | {t['short'] if t else '-'} | "
                     f"{t['macs'] / 1e6:.0f} M | {t.get('planner_sram_bytes', 0):,} B | "
                     f"{t['paper_formula_bytes']:,} B |" if t else f"| {name} | 0% | - | - | - | - |")
        sl = s240.get("space_largest")
        if sl:
            L += ["", f"The space's largest sub-net, {sl['short']} ({sl['macs'] / 1e6:.0f} M MACs), needs "
                  f"{sl['planner_sram_bytes']:,} B by our planner (fits: {sl['fits_planner']}) and "
                  f"{sl['paper_formula_bytes']:,} B by the paper's formula (fits: {sl['fits_paper']}). Our planner's "
                  "peak at 240 px is the int8 image (172,800 B) with the tokens written over it, plus one block's "
                  "scratch; so at 320 KB the budget no longer constrains MCUFormer's space (flash would)."]
        L.append("")
    (RESULTS / "nas.md").write_text("\n".join(L))


def cmd_shape240(a: argparse.Namespace) -> int:
    from mcuformer.nas.pipeline import shape_only_240
    from mcuformer.nas.search.evolution import EvoConfig

    torch.set_num_threads(1)
    t0 = time.time()
    rep = shape_only_240(320 * KB, evo=EvoConfig(population=a.population, generations=a.generations,
                                                  num_parents=10), samples=a.samples, progress=False).to_dict()
    rep["seconds"] = round(time.time() - t0, 1)
    rep["note"] = ("MCUFormer's space at 240 px (PAPER_SPACE), 320 KB SRAM, no flash limit; 'planner' = "
                   "mcuformer.backend.memory.plan_vit (int8 input overwritten in place), 'paper' = "
                   "E*[(N+1)*(1+M) + E*M*r] bytes at the worst layer; each list = the largest-MACs sub-nets an "
                   "evolutionary search (MACs as the score) found that fit by that predictor")
    _write_json(RESULTS / "nas_shape240.json", rep)
    _save(_load())
    for name, r in rep["per_predictor"].items():
        t = r["top"][0] if r.get("top") else None
        log(f"{name}: {100 * r['fit_share']:.1f}% fit; largest {t['short'] if t else None} "
            f"{t['macs'] / 1e6 if t else 0:.0f} MMACs")
    return 0


def main(argv: list[str] | None = None) -> int:
    global RESULTS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", default=str(RESULTS), help="folder of nas.json, nas.md, nas_pareto.png, ... "
                                                            f"(default {RESULTS.relative_to(REPO)})")
    sub = p.add_subparsers(dest="cmd", required=True)
    pl = sub.add_parser("plan", help="the baseline candidates of each budget (planner-checked) -> JSON")
    pl.add_argument("--out", default=str(RESULTS / "nas_plan.json"))
    pl.add_argument("--patches", type=int, nargs="*", default=None, help="baselines of these patch sizes (all)")
    pl.set_defaults(func=cmd_plan)
    for name, func in (("train", cmd_train), ("worker", cmd_worker), ("pack", cmd_pack)):
        t = sub.add_parser(name)
        t.add_argument("--out", default=str(REPO / "runs" / "nas_bench" / "gpu"))
        t.add_argument("--plan", default=str(RESULTS / "nas_plan.json"))
        t.add_argument("--data-dir", default=None)
        t.add_argument("--space", default=FMNIST_SPACE.name)
        t.add_argument("--patches", type=int, nargs="*", default=None, help="supernet/search patch sizes (all)")
        t.add_argument("--device", default="auto")
        t.add_argument("--threads", type=int, default=2)
        t.add_argument("--train-subset", type=int, default=None)
        t.add_argument("--batch-size", type=int, default=256)
        t.add_argument("--lr", type=float, default=1e-3)
        t.add_argument("--val-limit", type=int, default=2000)
        t.add_argument("--supernet-epochs", type=int, default=0, help="0: from a timing of the first steps")
        t.add_argument("--supernet-seconds", type=float, default=120.0)
        t.add_argument("--contention", type=float, default=1.3)
        t.add_argument("--calib-steps", type=int, default=10)
        t.add_argument("--finetune-epochs", type=int, default=8)
        t.add_argument("--population", type=int, default=20)
        t.add_argument("--generations", type=int, default=10)
        t.add_argument("--parents", type=int, default=8)
        t.add_argument("--space-iters", type=int, default=3)
        t.add_argument("--space-samples", type=int, default=12)
        if name == "train":
            t.add_argument("--deadline", type=float, default=260.0, help="seconds for the whole run")
            t.add_argument("--after-supernet-seconds", type=float, default=90.0,
                           help="seconds kept for search + fine-tune + packing")
            t.add_argument("--pack-seconds", type=float, default=12.0)
            t.add_argument("--repack-every", type=float, default=30.0)
            t.add_argument("--baselines", choices=["with-supernet", "with-search"], default="with-supernet",
                           help="when the baselines train: beside the supernet (short runs; it slows the supernet "
                                "~2.5x on one GPU) or beside search + fine-tune (long runs: the supernet alone)")
            t.add_argument("--pack", default=None, help="folder for nas_bundle.tar (e.g. $OUT)")
        elif name == "pack":
            t.add_argument("--pack", default=None, help="folder for the nas_*.tar files (default: --out)")
        else:
            t.add_argument("--role", required=True)
            t.add_argument("--budget", type=int, default=0)
            t.add_argument("--deadline", type=float, default=0)
            t.add_argument("--after-supernet-seconds", type=float, default=0)
            t.add_argument("--pack-seconds", type=float, default=0)
            t.add_argument("--repack-every", type=float, default=0)
            t.add_argument("--baselines", default="with-supernet")
        t.set_defaults(func=func)
    e = sub.add_parser("evaluate")
    e.add_argument("--bundle", required=True, help="nas_bundle.tar or its extracted bundle/ folder")
    e.add_argument("--work", default=str(REPO / "runs" / "nas_bench" / "eval"))
    e.add_argument("--qemu-images", type=int, default=2)
    e.add_argument("--skip-qemu", action="store_true")
    e.add_argument("--budgets", type=int, nargs="*", help="KB, default all")
    e.add_argument("--threads", type=int, default=1)
    e.set_defaults(func=cmd_evaluate)
    sc = sub.add_parser("scratch", help="diagnostic: the searched arch of one budget trained from scratch (CPU)")
    sc.add_argument("--budget", type=int, required=True, help="KB")
    sc.add_argument("--work", default=str(REPO / "runs" / "nas_bench" / "scratch"))
    sc.add_argument("--bundle", default=str(REPO / "runs" / "nas_bench" / "gpu" / "bundle"))
    sc.add_argument("--threads", type=int, default=1)
    sc.set_defaults(func=cmd_scratch)
    rd = sub.add_parser("render", help="re-render nas.md and the plot from nas.json")
    rd.add_argument("--note", action="append")
    rd.add_argument("--clear-notes", action="store_true")
    rd.set_defaults(func=cmd_render)
    q = sub.add_parser("qemu", help="(re)run the QEMU instruction counts from the saved .pte files")
    q.add_argument("--work", default=str(REPO / "runs" / "nas_bench" / "eval"))
    q.add_argument("--qemu-images", type=int, default=2)
    q.add_argument("--force", action="store_true")
    q.set_defaults(func=cmd_qemu)
    s = sub.add_parser("shape240")
    s.add_argument("--samples", type=int, default=500)
    s.add_argument("--population", type=int, default=50)
    s.add_argument("--generations", type=int, default=20)
    s.set_defaults(func=cmd_shape240)
    a = p.parse_args(argv)
    RESULTS = Path(a.results)
    return a.func(a)


if __name__ == "__main__":
    sys.exit(main())
