"""IR -> IR passes run by preprocess between lowering and planning (and by plan_vit), in this explicit order.

Each pass is one file with `run(program) -> program`; every one is bit-exact with the unfused reference
(tests/test_passes_*.py run reference.run on the program before and after and compare exactly).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..ir import Program
from . import (canon_attention, canon_movement, compact, fold_conv_tokens, fold_linear_lut, fold_transpose_matmul,
               inplace, remove_identity_rescale, schedule_blocks, schedule_patch_embed, schedule_tail, tile_tokens,
               views)

if TYPE_CHECKING:
    from ..memory.planner import Placement

PASSES = [
    ("fold_conv_tokens", fold_conv_tokens.run),  # Conv2d -> Reshape -> Permute  ==>  Conv2d(tokens_layout)
    ("fold_linear_lut", fold_linear_lut.run),  # Linear -> Lut  ==>  Linear(has_lut)
    # canonical form: the same IR whichever way the model was written (nn.MultiheadAttention, HF, fused qkv, ...)
    ("canon_movement", canon_movement.run),  # Reshapes collapse and move past row-wise ops; dead ops dropped
    ("canon_attention", canon_attention.run),  # q/k/v = heads of their own projection, found by element ids
    ("canon_movement", canon_movement.run),  # the views canon_attention leaves at the merge fold away
    ("fold_transpose_matmul", fold_transpose_matmul.run),  # Permute(last two) -> Matmul  ==>  Matmul(transpose_b)
    ("remove_identity_rescale", remove_identity_rescale.run),
    ("schedule_patch_embed", schedule_patch_embed.run),  # patch rows, tokens over the consumed image
    ("schedule_blocks", schedule_blocks.run),  # attention per query row and head, token-wise chains in place
    ("tile_tokens", tile_tokens.run),  # K/V written per head; token loops in R-row tiles fitting the SRAM budget
    ("schedule_tail", schedule_tail.run),  # LayerNorm after the class-token slice
    ("views", views.run),  # Reshape / contiguous Slice as views
    ("inplace", inplace.run),  # elementwise outputs over their dying input
    ("compact", compact.run),
]


def run_passes(program: Program, passes=None, sram_budget: int | None = None) -> Program:
    """sram_budget (bytes of input pool + arena) lets tile_tokens spend SRAM on multi-row tiles: None the default
    board's budget (tile_tokens.sram_budget_of), 0 none (one row per iteration, the smallest arena)."""
    names = None if passes is None else set(passes)
    for name, fn in PASSES:
        if names is None or name in names:
            program = fn(program, sram_budget) if fn is tile_tokens.run else fn(program)
    return program


def plan_within_budget(build: Callable[[], Program], sram_budget: int | None = None, target: str | None = None,
                       passes=None) -> tuple[Program, Placement]:
    """Runs the passes on `build()` and plans it, token loops in the tiles that fit the budget (bytes of input pool
    + arena: tile_tokens.sram_budget_of, sram_budget, else target's, else the default board's; 0 one row per
    iteration). The one schedule-and-plan of MCUFormerBackend.preprocess and of plan_vit. The tile choice already
    checks its plan; should the final plan (after the later passes) still exceed the budget, the budget given to the tile
    choice shrinks by the excess until it fits (or no tiles are left); each try builds the program anew (the passes
    change it)."""
    from ..memory.planner import plan_program  # noqa: PLC0415 - the memory package's ViT planner imports this one

    limit = budget = None
    while True:
        program = build()
        limit = tile_tokens.sram_budget_of(program, sram_budget, target) if limit is None else limit
        budget = limit if budget is None else budget
        program = run_passes(program, passes, budget)
        placement = plan_program(program)
        excess = program.input_pool_bytes + program.arena_bytes - limit
        if excess <= 0 or budget == 0 or all(s["rows"] == 1 for s in tile_tokens.tile_report(program)):
            return program, placement
        budget = max(0, budget - excess)


__all__ = ["PASSES", "run_passes", "plan_within_budget"]
