"""The main job's summary, typed: what `mcuformer run` writes to ``out/summary.json`` and what the report, the
closing table and ``benchmarks/main_job.py`` read back (the JSON keys are the field names, in this order).

    s = Summary.load("out/summary.json")    # UserError if the file is not one
    s.memory.total_sram_bytes, s.paths["pte"], s.to_dict()
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import UserError, first_line
from .io import write_json_atomic


@dataclass
class SearchInfo:
    val_acc: float  # inherited supernet weights, on the search's validation split
    planned_sram_bytes: int  # deployed, predicted: plan_vit tiled for the SRAM budget (= memory.total_sram_bytes)
    planned_flash_bytes: int
    candidates: int
    seconds: float
    path: str
    latency_ms: float | None  # predicted by the cost model at the board's clock (None: not predicted)
    binding: str  # the budget the chosen sub-net has least slack on: sram | flash | latency (nas Budget.binding)
    used: dict[str, float]  # share of each budget it uses (1.0 = at the limit; SRAM: of min_sram_bytes)
    # what the sub-net needs: its one-row plan (one row per token loop), on which the SRAM budget is judged; the
    # deployed plan (planned_sram_bytes) spends what the budget leaves on multi-row tiles (None: an older summary)
    min_sram_bytes: int | None = None


@dataclass
class MemoryInfo:
    """Read back from the deployed .pte's blob (the arena the firmware allocates)."""
    total_sram_bytes: int  # input + arena of the deployed (tiled) plan
    arena_bytes: int
    input_bytes: int
    bound_bytes: int  # live-set lower bound of input + arena
    weights_bytes: int
    plan_vit_int8_input_sram_bytes: int  # what the search predicted for the architecture (tiled for the budget)
    within_budget: bool


@dataclass
class Summary:
    board: str  # mcuformer.targets: the MCU whose budgets the search, the linker and the time estimate use
    budget_bytes: int  # SRAM of the model (input + arena)
    flash_budget_bytes: int | None  # firmware + .pte
    latency_budget_ms: float | None
    clock_hz: float
    preset: str
    arch: dict[str, Any]  # Arch.to_dict()
    arch_short: str
    macs: int
    search: SearchInfo
    test_images: int  # the images both accuracies are measured on
    fp32_top1: float
    fp32_top1_full_test: float
    int8_top1: float | None  # the firmware's, in QEMU; None with --skip-mcu
    memory: MemoryInfo
    mcu: dict[str, Any] | None  # the QEMU run (job.stage_qemu): counts, firmware RAM/flash, canaries
    instructions_per_inference: int | None
    est_ms: float | None  # measured instructions at clock_hz, one per cycle
    lower: dict[str, Any]  # pte_bytes, undelegated, rejections, delegates
    paths: dict[str, str | None]
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> "Summary":
        """Raises ValueError naming the first missing or mistyped part."""
        if not isinstance(d, dict):
            raise ValueError(f"a JSON {type(d).__name__}, not an object")
        missing = [f.name for f in fields(cls) if f.name not in d and f.name not in ("seconds", "notes")]
        if missing:
            raise ValueError(f"no {', '.join(missing)}")
        kw = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        for name, typ in (("search", SearchInfo), ("memory", MemoryInfo)):
            try:
                kw[name] = typ(**kw[name])
            except TypeError as e:
                raise ValueError(f"{name}: {e}") from None
        for name in ("arch", "lower", "paths"):
            if not isinstance(kw[name], dict):
                raise ValueError(f"{name} is not an object")
        return cls(**kw)

    def save(self, path: str | Path) -> Path:
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Summary":
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path} does not exist: run `mcuformer run --out {path.parent}` first")
        try:
            return cls.from_dict(json.loads(path.read_bytes()))
        except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
            raise UserError(f"{str(path)!r} is not a summary written by `mcuformer run`: {first_line(e)}") from None
