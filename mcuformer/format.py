"""Sizes in and out: ``parse_size("64KB") == 65536``, ``fmt_bytes(65536) == "65,536 B (64.0 KB)"``, and the main
job's closing table (``summary_table``), shared by the command line and the report."""
from __future__ import annotations

import argparse
import re

from .summary import Summary


def parse_size(text: str) -> int:
    """'64KB', '64K', '64KiB', '320kB', '1MB', '1.5M', '65536' -> bytes (K = 1024, M = 1024*1024, as MCU budgets).
    Raises argparse.ArgumentTypeError, so that argparse reports it as a usage error."""
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


def summary_table(s: Summary) -> str:
    """The main job's closing table (plain text, aligned)."""
    m, mcu = s.memory, s.mcu or {}
    pct = lambda v: "-" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    mhz = f"{s.clock_hz / 1e6:g} MHz"
    used = s.search.used
    rows = [
        ("board", f"{s.board} ({mhz})"),
        ("budgets (search)", f"SRAM {fmt_bytes(s.budget_bytes)}, flash {fmt_bytes(s.flash_budget_bytes)}, latency "
                             + ("-" if s.latency_budget_ms is None else f"{s.latency_budget_ms:g} ms")),
        ("binding constraint", f"{s.search.binding} ("
                               + ", ".join(f"{k} {100 * v:.1f}%" for k, v in used.items()) + " of budget used)"),
        ("architecture", f"{s.arch_short}  ({s.macs / 1e6:.2f} M MACs)"),
        ("test images (Fashion-MNIST)", f"{s.test_images:,d}"),
        ("fp32 top-1 (PyTorch)", pct(s.fp32_top1)),
        ("int8 top-1 (firmware in QEMU)", pct(s.int8_top1)),
        ("SRAM (model: input + arena)", f"{fmt_bytes(m.total_sram_bytes)} of {fmt_bytes(s.budget_bytes)} budget"
                                        + ("" if m.within_budget else "  OVER BUDGET")),
        ("  arena / live-set bound of input + arena", f"{fmt_bytes(m.arena_bytes)} / {fmt_bytes(m.bound_bytes)}"),
        ("  plan_vit (int8 input, as benchmarks)", fmt_bytes(m.plan_vit_int8_input_sram_bytes)),
        ("  needed (one row per token loop)", fmt_bytes(s.search.min_sram_bytes)
                                              + "  (the rest of the budget buys multi-row tiles)"),
    ]
    if mcu:
        rows += [
            ("firmware RAM (stack+runtime+arena)", f"{fmt_bytes(mcu.get('ram_bytes'))} of "
                                                   f"{fmt_bytes(mcu.get('ram_budget_bytes'))}"),
            ("flash used", f"{fmt_bytes(mcu.get('flash_bytes'))} internal"
                           + (f" + {fmt_bytes(mcu.get('qspi_bytes'))} QSPI" if mcu.get("qspi_bytes") else "")
                           + f"  (.pte in {mcu.get('pte_region')}, weights {fmt_bytes(m.weights_bytes)})"),
            ("instructions per inference", f"{s.instructions_per_inference:,d}"),
            (f"estimated ms at {mhz}", f"{s.est_ms:.2f} ms (1 instruction per cycle)"
                                       + ("" if s.search.latency_ms is None
                                          else f"; predicted {s.search.latency_ms:.2f} ms")),
        ]
    else:
        rows.append(("weights (flash)", fmt_bytes(m.weights_bytes)))
    for k in ("report", "pte", "firmware", "checkpoint", "search", "summary"):
        if s.paths.get(k):
            rows.append((f"path: {k}", s.paths[k]))
    w = max(len(r[0]) for r in rows)
    lines = ["", "=" * 100, "mcuformer main job — summary", "-" * 100]
    lines += [f"{k:<{w}}  {v}" for k, v in rows]
    lines.append("-" * 100)
    lines.append("time (s): " + "  ".join(f"{k} {v:g}" for k, v in s.seconds.items()))
    for note in s.notes:
        lines.append("note: " + note)
    lines.append("=" * 100)
    return "\n".join(lines)
