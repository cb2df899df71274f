"""The microcontrollers we deploy to: one table, read by the search's budgets (and the firmware's linker budgets).

    board = BOARDS["stm32f746"]                     # 320 KB SRAM, 1 MB flash, 216 MHz
    model_sram_budget(board)                        # what the model (input + arena) may use of the SRAM
    DEFAULT_BOARD                                   # the board the backend plans for when told none
    board.ms(instructions)                          # latency at the board's clock, one instruction per cycle

The paper's three MCUs (MCUFormer, NeurIPS 2023). The firmware itself needs SRAM besides the model (stack, runtime
state, arena canaries): `firmware_ram_bytes()` is that, measured on a built ELF by the calibration benchmark
(`benchmarks/bench_latency.py` -> backend/cost/calibration.json). Latency: QEMU counts instructions exactly but
models no pipeline, caches or wait states, so milliseconds = instructions / clock is the one-instruction-per-cycle
estimate.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Board", "BOARDS", "DEFAULT_BOARD", "board", "firmware_ram_bytes", "model_sram_budget"]

# The one default of every plan of a blob (MCUFormerPartitioner(), plan_vit, the latency and flash predictors, the
# main job): token loops in the fastest tiles that fit this board's model_sram_budget.
DEFAULT_BOARD = "stm32f746"


@dataclass(frozen=True)
class Board:
    name: str
    sram_bytes: int
    flash_bytes: int  # internal flash
    clock_hz: float

    def ms(self, instructions: float) -> float:
        return instructions / self.clock_hz * 1e3


BOARDS: dict[str, Board] = {b.name: b for b in (
    Board("stm32f427", 256 * 1024, 1024 * 1024, 180e6),
    Board("stm32f746", 320 * 1024, 1024 * 1024, 216e6),
    Board("stm32h743", 512 * 1024, 2048 * 1024, 480e6),
)}


def board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; known: {', '.join(sorted(BOARDS))}") from None


def firmware_ram_bytes(num_classes: int = 10) -> int:
    """SRAM the firmware uses besides the model's input and arena (stack, .data, .bss with the float logits,
    canaries), measured."""
    from mcuformer.backend.cost import firmware_overheads  # noqa: PLC0415 - loads the calibration

    return int(firmware_overheads()["ram_bytes"]) + 4 * num_classes


def model_sram_budget(b: Board | str, num_classes: int = 10) -> int:
    """The board's SRAM minus what the firmware itself needs: the budget for plan_vit's total (input + arena)."""
    b = board(b) if isinstance(b, str) else b
    return b.sram_bytes - firmware_ram_bytes(num_classes)
