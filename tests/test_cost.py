"""The Cortex-M7 cost model (backend/cost): its calibration is current, its features walk LOOPs as the runtime
does, and its least-squares fit recovers known costs. Its error against QEMU: tests/test_latency.py."""

import random

import numpy as np

from mcuformer.backend.cost import CALIBRATION, CostModel, features, runtime_sources_hash
from mcuformer.backend.cost.model import REGENERATE
from mcuformer.backend.ir import Program
from mcuformer.nas.predictors.latency import scheduled_program
from mcuformer.nas.space import FMNIST_SMALL_SPACE, FMNIST_SPACE


def test_calibration_matches_the_runtime_sources():
    """Kernels, interpreter or firmware changed since the calibration: its costs are those of other code."""
    model = CostModel.load(CALIBRATION)
    assert model.source_hash == runtime_sources_hash(), (
        f"backend/cost/calibration.json was fit on runtime sources {model.source_hash}, they are now "
        f"{runtime_sources_hash()}: rerun {REGENERATE} (QEMU, about 30 minutes) and commit calibration.json")


def test_source_hash_follows_a_kernel_edit(tmp_path):
    for d in ("runtime/src/kernels", "examples/stm32f746/app"):
        (tmp_path / d).mkdir(parents=True)
    kernel = tmp_path / "runtime/src/kernels/linear.cpp"
    kernel.write_text("int x;\n")
    (tmp_path / "examples/stm32f746/app/main.c").write_text("int main(void) { return 0; }\n")
    before = runtime_sources_hash(tmp_path)
    (tmp_path / "runtime/README.md").write_text("docs do not cost instructions\n")
    assert runtime_sources_hash(tmp_path) == before
    kernel.write_text("int x = 1;\n")
    assert runtime_sources_hash(tmp_path) != before


def _loop_program() -> Program:
    """Loop(3) { LayerNorm(row); Loop(2) { Add(row2, row2) } }; Linear [2, 6] x [5, 6]^T."""
    p = Program()
    row, row2, out = p.add_tensor("row", (1, 1, 8)), p.add_tensor("row2", (1, 1, 8)), p.add_tensor("o", (1, 1, 8))
    g, b = p.add_constant("g", np.zeros(8, np.int32)), p.add_constant("b", np.zeros(8, np.int32))
    x, y = p.add_tensor("x", (2, 6)), p.add_tensor("y", (2, 5))
    w = p.add_constant("w", np.zeros((5, 6), np.int8))
    bms = [p.add_constant(f"c{i}", np.zeros(5, np.int32)) for i in range(3)]
    p.add_op("Loop", [], [], count=3, body=3, tensors=[row], strides=[8])
    p.add_op("LayerNorm", [row, g, b], [row2])
    p.add_op("Loop", [], [], count=2, body=1, tensors=[row2, out], strides=[0, 8])
    p.add_op("Add", [row2, row2], [out])
    p.add_op("Linear", [x, w] + bms, [y], has_lut=False)
    return p


def test_features_walk_loops_like_the_runtime():
    f = {r.index: r for r in features(_loop_program())}
    assert sorted(f) == [1, 3, 4]  # LOOPs are not dispatched
    ln, add, lin = f[1], f[3], f[4]
    assert (ln.key, ln.calls, add.calls, lin.calls) == ("LayerNorm", 3, 6, 1)
    assert ln.values["rows"] == 3 and ln.values["elements"] == 24
    # operand addressing walks every enclosing LOOP's tensor list: 2 activations x 1 tensor; 3 x (1 + 2)
    assert ln.values["loop_shift"] == 3 * 2 * 1 and add.values["loop_shift"] == 6 * 3 * 3
    assert ln.values["loop_entries"] == 3  # the inner LOOP starts after the LayerNorm, once per outer iteration
    assert add.values["loop_iterations"] == 3 * 2 + 3  # inner iterations, then the outer ones end after it too
    assert lin.values["loop_shift"] == 0 and lin.values["loop_iterations"] == 0  # outside every LOOP
    # M = 2 rows: one 2-row tile of the GEMM core (linear.cpp), none on the one-row path; K = 6 padded to 16
    assert {k: lin.values[k] for k in ("rows", "outputs", "widen", "dot4", "dot1", "tiles", "tile_widen",
                                       "tile_channels", "tile_blocks", "tile_row_blocks", "tile6_blocks")} == {
        "rows": 0, "outputs": 10, "widen": 0, "dot4": 0, "dot1": 0, "tiles": 1, "tile_widen": 32,
        "tile_channels": 5, "tile_blocks": 20, "tile_row_blocks": 40, "tile6_blocks": 0}


def test_rows_split_like_the_gemm_kernels():
    """linear.cpp / matmul.cpp: tiles of up to gemm::tile_rows(K) (6, fewer for K > 768) while 2 rows are left, the
    last row alone on the one-row path; no tiles when the tile buffer holds fewer than 4 rows."""
    from mcuformer.backend.cost.model import _row_tiles

    assert _row_tiles(145, 192) == ([6] * 24, 1)
    assert _row_tiles(17, 64) == ([6, 6, 5], 0)
    assert _row_tiles(1, 64) == ([], 1)
    assert _row_tiles(12, 1024) == ([4, 4, 4], 0)  # 2304 words hold 4 rows of 1024
    assert _row_tiles(9, 1600) == ([], 9)  # 2 rows of 1600: the one-row path


def test_fit_recovers_known_costs():
    """Counts made from known coefficients (and a fixed cost) are reproduced exactly by the fit, although its
    columns span 1 .. 1e7 and some are collinear in ViTs (e.g. calls and rows of the one-row matmuls)."""
    rng = random.Random(0)
    archs = [FMNIST_SPACE.sample(rng) for _ in range(10)] + [FMNIST_SMALL_SPACE.sample(rng) for _ in range(4)]
    programs = [scheduled_program(a) for a in archs]
    truth: dict[tuple[str, str], float] = {}

    def cost(r):
        return sum(truth.setdefault(("*" if f in ("operands", "loop_shift", "loop_entries", "loop_iterations")
                                     else r.key, f), rng.uniform(0.5, 20.0)) * v for f, v in r.values.items())

    runs = []
    for p in programs:
        per_op = {r.index: cost(r) for r in features(p)}
        runs.append((p, per_op, 700.0 + sum(per_op.values())))
    model = CostModel.fit(runs)
    assert abs(model.fixed - 700.0) < 1e-3
    for p, _, total in runs:
        assert abs(model.instructions(p) - total) / total < 1e-6
