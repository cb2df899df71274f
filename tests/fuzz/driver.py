"""Build, seed and run the libFuzzer targets; parse libFuzzer's report. Used by tests/test_fuzz.py and
benchmarks/bench_fuzz.py.

    targets = build()                                  # {"blob": path, "pte": path}, cached by cmake/make
    seeds = seed_dirs()                                # {"blob": dir, "pte": dir}, regenerated when the backend changes
    r = run_fuzzer("blob", seconds=20, corpus=tmp, seeds=seeds["blob"], artifacts=tmp2)
    r.crashes, r.execs, r.exec_per_s, r.cov, r.ft, r.seed_cov, r.seed_ft, r.corpus
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BUILD = REPO / "build" / "fuzz"
TARGETS = {"blob": "fuzz_blob", "pte": "fuzz_pte"}


class FuzzUnavailable(RuntimeError):
    """clang with libFuzzer (or cmake / flatc) is not installed."""


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _clang() -> tuple[str, str]:
    for cc, cxx in (("clang", "clang++"), ("clang-14", "clang++-14")):
        if shutil.which(cc) and shutil.which(cxx):
            return shutil.which(cc), shutil.which(cxx)
    raise FuzzUnavailable("clang not found (apt-get install clang libclang-rt-14-dev)")


def build() -> dict[str, Path]:
    """Configures (once) and builds build/fuzz; returns the target binaries."""
    if shutil.which("cmake") is None:
        raise FuzzUnavailable("cmake not found")
    cc, cxx = _clang()
    with _locked(BUILD):
        cmds = []
        if not (BUILD / "CMakeCache.txt").exists():
            cmds.append(["cmake", "-S", str(HERE), "-B", str(BUILD), f"-DCMAKE_C_COMPILER={cc}",
                         f"-DCMAKE_CXX_COMPILER={cxx}", "-DCMAKE_BUILD_TYPE=RelWithDebInfo"])
        cmds.append(["cmake", "--build", str(BUILD), "-j2", "--target", *TARGETS.values()])
        for cmd in cmds:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if p.returncode != 0:
                if "fsanitize=fuzzer" in p.stdout and "cannot find" in p.stdout:
                    raise FuzzUnavailable("libFuzzer runtime missing (apt-get install libclang-rt-14-dev)")
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stdout[-6000:]}")
    return {k: BUILD / v for k, v in TARGETS.items()}


def _seed_key() -> str:
    """Seeds depend on the lowering code (backend/), seeds.py and its models: a change to any regenerates them."""
    h = hashlib.sha256()
    for p in sorted([HERE / "seeds.py", HERE.parent / "models.py", *(REPO / "backend").rglob("*.py"),
                     *(REPO / "backend").rglob("*.fbs")]):
        h.update(str(p.relative_to(REPO)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def seed_dirs() -> dict[str, Path]:
    """Seed corpora lowered from real models (tests/fuzz/seeds.py), cached under build/fuzz/seeds-<hash>."""
    out = BUILD / f"seeds-{_seed_key()}"
    with _locked(out):
        done = out / "done"
        if not done.exists():
            shutil.rmtree(out, ignore_errors=True)
            # In a subprocess: lowering imports torch/executorch; a test process may not want them loaded.
            code = ("import sys; sys.path.insert(0, sys.argv[1]); import seeds; seeds.write_seeds(sys.argv[2])")
            p = subprocess.run([sys.executable, "-c", code, str(HERE), str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=REPO)
            if p.returncode != 0:
                raise RuntimeError(f"seed generation failed:\n{p.stdout[-6000:]}")
            done.write_text("ok\n")
    return {"blob": out / "blob", "pte": out / "pte"}


@dataclass
class FuzzResult:
    target: str
    seconds: int          # -max_total_time
    execs: int
    exec_per_s: int
    seed_cov: int         # libFuzzer "cov:" (edges) after reading the seeds (INITED)
    seed_ft: int          # "ft:" (features) after the seeds
    cov: int              # at the end
    ft: int
    corpus: int           # corpus units at the end (seeds kept + new)
    new_units: int
    crashes: int          # crash-/leak-/timeout-/oom- artifacts, plus a nonzero exit without one
    edges: int            # instrumented edges in the binary (libFuzzer's inline 8-bit counters): cov's ceiling
    peak_rss_mb: int
    returncode: int
    log_tail: str = ""

    def as_row(self) -> dict:
        d = asdict(self)
        d.pop("log_tail")
        return d


_STATUS = re.compile(r"^#(\d+)\s+(INITED|NEW|REDUCE|pulse|DONE|RELOAD)\s+cov: (\d+) ft: (\d+) corp: (\d+)/")


def parse_log(log: str) -> dict[str, int]:
    out = {"seed_cov": 0, "seed_ft": 0, "cov": 0, "ft": 0, "corpus": 0, "execs": 0, "edges": 0}
    for line in log.splitlines():
        m = re.match(r"^INFO: Loaded \d+ modules?\s+\((\d+) inline 8-bit counters\)", line)
        if m:
            out["edges"] = int(m[1])
        m = _STATUS.match(line)
        if m:
            n, kind, cov, ft, corp = int(m[1]), m[2], int(m[3]), int(m[4]), int(m[5])
            if kind == "INITED":
                out["seed_cov"], out["seed_ft"] = cov, ft
            out["cov"], out["ft"], out["corpus"] = cov, ft, corp
            out["execs"] = max(out["execs"], n)
        m = re.match(r"^stat::(\w+):\s+(\d+)", line)
        if m:
            out[m[1]] = int(m[2])
    if "number_of_executed_units" in out:
        out["execs"] = out["number_of_executed_units"]
    return out


def run_fuzzer(target: str, seconds: int, corpus: Path, seeds: Path, artifacts: Path,
               binary: Path | None = None, extra: tuple[str, ...] = (), env: dict[str, str] | None = None) -> FuzzResult:
    """One libFuzzer process: new units go to `corpus` (first dir), `seeds` is read only; crash reproducers land in
    `artifacts`. Timeouts (10 s per input), OOM (2 GB) and leaks count as crashes."""
    binary = binary or build()[target]
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    cmd = [str(binary), str(corpus), str(seeds), f"-max_total_time={seconds}", "-print_final_stats=1",
           "-timeout=10", "-rss_limit_mb=2048", f"-artifact_prefix={artifacts}/", "-close_fd_mask=1", *extra]
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1", **(env or {}))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                       timeout=seconds + 120)
    stats = parse_log(p.stdout)
    found = [f for f in artifacts.iterdir() if f.name.split("-")[0] in ("crash", "leak", "timeout", "oom")]
    crashes = len(found) or int(p.returncode != 0)
    execs = stats["execs"]
    return FuzzResult(target=target, seconds=seconds, execs=execs,
                      exec_per_s=stats.get("average_exec_per_sec", execs // max(1, seconds)),
                      seed_cov=stats["seed_cov"], seed_ft=stats["seed_ft"], cov=stats["cov"], ft=stats["ft"],
                      corpus=stats["corpus"], new_units=stats.get("new_units_added", 0), crashes=crashes, edges=stats["edges"],
                      peak_rss_mb=stats.get("peak_rss_mb", 0), returncode=p.returncode, log_tail=p.stdout[-6000:])


def replay(target: str, files: list[Path], binary: Path | None = None) -> subprocess.CompletedProcess:
    """Runs the target once on each file (libFuzzer's replay mode), reporting per input whether model_run ran
    (MCUFUZZ_REPORT=1 makes the target print "mcufuzz: ran" after a complete run)."""
    binary = binary or build()[target]
    env = dict(os.environ, MCUFUZZ_REPORT="1", ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="halt_on_error=1")
    return subprocess.run([str(binary), *map(str, files)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, timeout=300)
