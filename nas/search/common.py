"""What every search shares: candidates, budgets, the feasibility check and the inherited-weight accuracy."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from mcuformer.io import write_text_atomic

from ..data import Split
from ..predictors.memory import MemoryFn, sram_need
from ..space import Arch, NoFeasibleArch, Region, SearchSpace, flash_lower_bound, macs

__all__ = ["Candidate", "Budget", "MemoryCache", "AccuracyFn", "inherited_accuracy", "smallest_need", "CONSTRAINTS"]

AccuracyFn = Callable[[Arch], float]


CONSTRAINTS = ("sram", "flash", "latency")


@dataclass(frozen=True)
class Budget:
    """What a deployed sub-net may use: SRAM (plan_vit's input + arena), flash (firmware + .pte) and latency
    (predicted instructions / ``clock_hz``). ``None``: no limit. ``mcuformer.targets`` has the boards' values.
    SRAM is judged on what a sub-net needs (``sram_need``: its one-row plan), not on its deployed plan, whose tiles
    fill the budget by design; flash and latency on the deployed blob's (tiled for ``sram_bytes``)."""

    sram_bytes: int
    flash_bytes: int | None = None
    latency_ms: float | None = None
    clock_hz: float = 216e6  # the STM32F746's

    @classmethod
    def for_board(cls, board: str, sram_bytes: int | None = None, flash_bytes: int | None = None,
                  latency_ms: float | None = None) -> "Budget":
        """A board's budgets (its SRAM less the firmware's own, its flash, its clock); explicit values override."""
        from mcuformer.targets import board as get_board, model_sram_budget  # noqa: PLC0415 - reads the calibration

        b = get_board(board)
        return cls(model_sram_budget(b) if sram_bytes is None else int(sram_bytes),
                   b.flash_bytes if flash_bytes is None else int(flash_bytes), latency_ms, b.clock_hz)

    def latency_of(self, mem: Any) -> float | None:
        ins = getattr(mem, "instructions", None)
        return None if ins is None else ins / self.clock_hz * 1e3

    def used(self, mem: Any) -> dict[str, float]:
        """What `mem` uses of each limited resource, as a share of its budget (1.0 = exactly at the limit)."""
        out = {"sram": sram_need(mem) / self.sram_bytes}
        if self.flash_bytes is not None:
            out["flash"] = mem.flash_bytes / self.flash_bytes
        if self.latency_ms is not None:
            ms = self.latency_of(mem)
            if ms is None:
                raise ValueError("a latency budget needs a predictor that reports instructions "
                                 "(planner_predictor(latency=True))")
            out["latency"] = ms / self.latency_ms
        return out

    def violations(self, mem: Any) -> list[str]:
        return [k for k, v in self.used(mem).items() if v > 1.0]

    def fits(self, mem: Any) -> bool:
        return not self.violations(mem)

    def binding(self, mem: Any) -> str:
        """The constraint with the least slack for `mem`."""
        used = self.used(mem)
        return max(used, key=lambda k: used[k])

    def to_dict(self) -> dict[str, Any]:
        return {"sram_bytes": self.sram_bytes, "flash_bytes": self.flash_bytes, "latency_ms": self.latency_ms,
                "clock_hz": self.clock_hz}


@dataclass(frozen=True)
class Candidate:
    """One architecture the search looked at, with what it learned about it (for tables and Pareto plots)."""

    arch: Arch
    sram_bytes: int  # deployed: the plan tiled for the search's SRAM budget
    flash_bytes: int
    fits: bool
    score: float | None = None  # validation accuracy with inherited weights (or MACs for the shape-only search)
    macs: int = 0
    source: str = ""  # init | mutation | crossover | region-sample
    instructions: float | None = None  # predicted Cortex-M7 instructions per inference (None: not predicted)
    min_sram_bytes: int | None = None  # what it needs: one row per token loop (sram_need; None: sram_bytes)

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch.to_dict(), "sram_bytes": self.sram_bytes, "flash_bytes": self.flash_bytes,
                "fits": self.fits, "score": self.score, "macs": self.macs, "source": self.source,
                "instructions": self.instructions, "short": self.arch.short(), "min_sram_bytes": self.min_sram_bytes}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Candidate":
        return cls(Arch.from_dict(d["arch"]), d["sram_bytes"], d["flash_bytes"], d["fits"], d["score"],
                   d.get("macs", 0), d.get("source", ""), d.get("instructions"), d.get("min_sram_bytes"))


class MemoryCache:
    """Memoizes a ``MemoryFn`` per arch and applies a :class:`Budget`.

    With a flash budget, an arch whose parameter count alone exceeds it (``flash_lower_bound``) is rejected without
    calling the planner (a proven lower bound: it never rejects what the planner would accept). Every arch that
    ``fits`` has been planned by ``memory_fn``."""

    def __init__(self, memory_fn: MemoryFn, budget: Budget) -> None:
        self.memory_fn, self.budget = memory_fn, budget
        self._cache: dict[Arch, Any] = {}
        self.planned = 0  # calls of memory_fn
        self.quick_rejects = 0
        self._violations: dict[Arch, tuple[str, ...]] = {}  # every distinct arch rejected, and why

    def rejections(self) -> dict[str, int]:
        """How many distinct rejected archs broke each constraint (one arch may break several)."""
        return {k: sum(k in v for v in self._violations.values()) for k in CONSTRAINTS}

    def __call__(self, arch: Arch) -> Any:
        if arch not in self._cache:
            self._cache[arch] = self.memory_fn(arch)
            self.planned += 1
        return self._cache[arch]

    def over_flash_bound(self, arch: Arch) -> bool:
        return self.budget.flash_bytes is not None and flash_lower_bound(arch) > self.budget.flash_bytes

    def fits(self, arch: Arch) -> bool:
        if arch not in self._cache and self.over_flash_bound(arch):
            self.quick_rejects += 1
            self._violations[arch] = ("flash",)
            return False
        broken = self.budget.violations(self(arch))
        if broken:
            self._violations[arch] = tuple(broken)
        return not broken

    def candidate(self, arch: Arch, score: float | None = None, source: str = "") -> Candidate:
        if arch not in self._cache and self.over_flash_bound(arch):
            # not planned: SRAM unknown (-1), flash at least the parameter count
            return Candidate(arch, -1, flash_lower_bound(arch), False, score, macs(arch), source)
        m = self(arch)
        return Candidate(arch, int(m.total_sram_bytes), int(m.flash_bytes), self.budget.fits(m), score, macs(arch),
                         source, getattr(m, "instructions", None), sram_need(m))


def smallest_need(space: SearchSpace, mem: MemoryCache, region: Region | None = None) -> str:
    """A sentence naming what the space's smallest sub-net needs (for 'budget cannot be met' errors). Its SRAM,
    flash and latency are each the least of any sub-net: every one of them grows with each choice of the space
    (tests/test_nas_search.py checks this on random sub-nets)."""
    a = space.smallest(region or space.full_region())
    m = mem(a)
    ms = mem.budget.latency_of(m)
    return (f"the smallest sub-net of {space.name} ({a.short()}) needs {sram_need(m)} B SRAM, "
            f"{m.flash_bytes} B flash" + ("" if ms is None else f" and {ms:.2f} ms at "
                                            f"{mem.budget.clock_hz / 1e6:g} MHz"))


def no_feasible(space: SearchSpace, mem: MemoryCache, region: Region | None, tries: int) -> NoFeasibleArch:
    b = mem.budget
    broken = b.violations(mem(space.smallest(region or space.full_region())))
    return NoFeasibleArch(
        f"no sub-net fits {b.sram_bytes} B SRAM"
        + (f" / {b.flash_bytes} B flash" if b.flash_bytes is not None else "")
        + (f" / {b.latency_ms:g} ms" if b.latency_ms is not None else "")
        + f" after {tries} tries"
        + (f" (the {' and '.join(broken)} budget{'s' if len(broken) > 1 else ''} cannot be met)" if broken else "")
        + f"; {smallest_need(space, mem, region)}. Raise the budget to at least that."
    )


def _fingerprint(supernet: torch.nn.Module, split: Split) -> str:
    """What a score depends on: the supernet's weights and the validation images."""
    h = hashlib.sha256()
    for name, t in supernet.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    h.update(split.images.numpy().tobytes())
    return h.hexdigest()[:32]


def _open_journal(path: Path, fingerprint: str) -> dict[Arch, float]:
    """Scores a previous (possibly interrupted) search already computed with the same supernet and data. The file is
    rewritten atomically with only its valid entries, so a line torn by a kill is dropped, not appended to."""
    cache: dict[Arch, float] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    try:
        same = bool(lines) and json.loads(lines[0]).get("fingerprint") == fingerprint
    except ValueError:
        same = False
    for line in lines[1:] if same else []:
        try:
            entry = json.loads(line)
            cache[Arch.from_dict(entry["arch"])] = float(entry["score"])
        except (ValueError, KeyError, TypeError):
            break  # a torn last line
    header = json.dumps({"fingerprint": fingerprint})
    write_text_atomic(path, "".join(f"{x}\n" for x in [header] + [
        json.dumps({"arch": a.to_dict(), "score": v}) for a, v in cache.items()]))
    return cache


def inherited_accuracy(supernet: torch.nn.Module, split: Split, limit: int | None = 2000, batch_size: int = 500,
                       device: torch.device | str = "cpu", journal: str | Path | None = None) -> AccuracyFn:
    """Validation accuracy of a sub-net with the supernet's weights (memoized per arch).

    With ``journal`` (a JSON-lines file) every score is also appended there as soon as it is computed, and scores a
    previous run left for the same supernet and data are reused: an interrupted search, rerun with the same seed,
    replays what it had done without recomputing it and goes on from there.
    """
    split = split.subset(limit)
    xs = [split.normalized(split.images[i : i + batch_size]).to(device) for i in range(0, len(split), batch_size)]
    ys = [split.labels[i : i + batch_size] for i in range(0, len(split), batch_size)]
    journal = Path(journal) if journal is not None else None
    cache: dict[Arch, float] = _open_journal(journal, _fingerprint(supernet, split)) if journal else {}

    @torch.no_grad()
    def acc(arch: Arch) -> float:
        if arch not in cache:
            was = supernet.training
            supernet.eval()
            correct = sum((supernet(x, arch).argmax(-1).cpu() == y).sum().item() for x, y in zip(xs, ys))
            supernet.train(was)
            cache[arch] = correct / max(1, len(split))
            if journal is not None:
                with open(journal, "a") as f:
                    f.write(json.dumps({"arch": arch.to_dict(), "score": cache[arch]}) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
        return cache[arch]

    return acc
