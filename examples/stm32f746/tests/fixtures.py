"""TEST-ONLY helpers shared by tests/test_firmware_*.py: fake `.pte` files (see make_fake_pte.py), made in a
subprocess (its fake MCUFormerBackend class must never meet the real one) and cached under build/mcu/fixtures/."""
from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
CACHE = REPO_ROOT / "build" / "mcu" / "fixtures"


def fake_pte(*, in_numel: int = 8, out_numel: int = 4, arena_bytes: int = 4096, pad_bytes: int = 0,
             inline: bool = False, overrun_bytes: int = 0, stack_bytes: int = 0) -> Path:
    gen = HERE / "make_fake_pte.py"
    args = ["--in-numel", str(in_numel), "--out-numel", str(out_numel), "--arena-bytes", str(arena_bytes),
            "--pad-bytes", str(pad_bytes), "--overrun-bytes", str(overrun_bytes), "--stack-bytes", str(stack_bytes)]
    if inline:
        args.append("--inline")
    key = hashlib.sha256((gen.read_text() + " ".join(args)).encode()).hexdigest()[:16]
    out = CACHE / f"fake-{key}.pte"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(str(out) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.exists():
            tmp = out.with_suffix(".tmp")
            r = subprocess.run([sys.executable, str(gen), str(tmp), *args], capture_output=True, text=True,
                               cwd=REPO_ROOT, env=dict(os.environ))
            if r.returncode != 0:
                raise RuntimeError("make_fake_pte failed:\n" + r.stderr[-3000:])
            tmp.rename(out)
    return out


def fake_reference(x, out_numel: int):
    sys.path.insert(0, str(HERE))
    from make_fake_pte import fake_reference as ref

    return ref(x, out_numel)
