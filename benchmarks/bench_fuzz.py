"""Fuzzing benchmark (issue 7): a longer libFuzzer run per target, seeded from real lowered models.

    .venv/bin/python -m benchmarks.bench_fuzz    # 300 s per target; the table, benchmarks/results/fuzz.json
    .venv/bin/python -m benchmarks.bench_fuzz --seconds 60 --keep-corpus

Targets (tests/fuzz/): fuzz_blob (delegate blob loader + model_run), fuzz_pte (the firmware's .pte loader +
model_load/model_run on the delegate it finds); clang -fsanitize=fuzzer,address,undefined. Coverage numbers are
libFuzzer's: cov = instrumented edges hit, ft = features (edges x hit-count buckets); "seed" columns are after
reading the seed corpus, the others at the end; edges = all instrumented edges of the binary (runtime core, loader,
flatbuffers verifier, harness), the ceiling of cov. Crashes must be 0; any reproducer is copied to build/fuzz/crashes/.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "fuzz"))
import driver  # noqa: E402

from mcuformer.io import write_json_atomic  # noqa: E402

COLUMNS = [("target", "target", "{}"), ("seconds", "s", "{}"), ("execs", "execs", "{:,}"),
           ("exec_per_s", "exec/s", "{:,}"), ("seed_cov", "cov seed", "{}"), ("cov", "cov end", "{}"), ("edges", "edges", "{}"),
           ("seed_ft", "ft seed", "{}"), ("ft", "ft end", "{}"), ("seed_files", "seeds", "{}"),
           ("corpus", "corpus", "{}"), ("crashes", "crashes", "{}")]


def table(rows: list[dict]) -> str:
    cells = [[h for _, h, _ in COLUMNS]] + [[f.format(r[k]) for k, _, f in COLUMNS] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=300, help="libFuzzer -max_total_time per target")
    ap.add_argument("--targets", nargs="+", default=list(driver.TARGETS), choices=list(driver.TARGETS))
    ap.add_argument("--keep-corpus", action="store_true",
                    help="grow build/fuzz/corpus/<target> across runs (default: a fresh corpus each run)")
    ap.add_argument("--json", type=Path, default=HERE / "results" / "fuzz.json")
    a = ap.parse_args(argv)

    binaries = driver.build()
    seeds = driver.seed_dirs()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for target in a.targets:
            corpus = driver.BUILD / "corpus" / target if a.keep_corpus else Path(tmp) / f"corpus-{target}"
            artifacts = Path(tmp) / f"artifacts-{target}"
            print(f"fuzzing {target} for {a.seconds} s ...", file=sys.stderr, flush=True)
            r = driver.run_fuzzer(target, a.seconds, corpus, seeds[target], artifacts, binary=binaries[target])
            row = r.as_row()
            row["seed_files"] = len(list(seeds[target].iterdir()))
            row["seed_names"] = sorted(p.name for p in seeds[target].iterdir())
            rows.append(row)
            if r.crashes:
                keep = driver.BUILD / "crashes" / target
                keep.mkdir(parents=True, exist_ok=True)
                for f in artifacts.iterdir():
                    shutil.copy(f, keep / f.name)
                print(r.log_tail, file=sys.stderr)
    print(table(rows))
    clang = subprocess.run([driver._clang()[1], "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    write_json_atomic(a.json, {
        "description": "libFuzzer per target: executions, exec/s, coverage (cov = edges hit, ft = features) after "
                       "the seeds and at the end, of `edges` instrumented edges; corpus units; crashes (must be 0). "
                       "ASan+UBSan on.",
        "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "compiler": clang, "rows": rows})
    print(f"wrote {a.json}", file=sys.stderr)
    return 1 if any(r["crashes"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
