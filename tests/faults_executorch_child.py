"""Child process of tests/test_faults.py: runs .pte files through ExecuTorch's Python runtime with the host delegate
library given on the command line (the ASan + UBSan build with a static arena), one case after another.

    python faults_executorch_child.py LIB.so CASES.json

Each case prints "=== case NAME" on stderr before it runs (ExecuTorch's and the delegate's log lines follow on
stderr) and one JSON line on stdout: {"name", "loaded", "error", "outputs_bit_exact", "bad_inputs": {...}}.
"""
from __future__ import annotations

import ctypes
import json
import sys


def main() -> int:
    lib = ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)
    if lib.mcuformer_register_backend() != 0:
        print("registration failed", file=sys.stderr)
        return 2
    import numpy as np
    import torch
    from executorch.runtime import Runtime

    from mcuformer.backend import reference
    from mcuformer.backend.serialization.serialize import deserialize

    cases = json.loads(open(sys.argv[2]).read())
    rng = np.random.default_rng(0)
    for case in cases:
        print(f"=== case {case['name']}", file=sys.stderr, flush=True)
        res = {"name": case["name"], "loaded": False, "error": None, "outputs_bit_exact": None, "bad_inputs": {}}
        try:
            # Keep the Program (and its bytes) alive while the method runs: ExecuTorch's Method points into it
            # (dropping it is a heap-use-after-free that ASan reports in Method::set_input).
            program_et = Runtime.get().load_program(open(case["pte"], "rb").read())
            method = program_et.load_method("forward")
            res["loaded"] = True
        except Exception as e:  # noqa: BLE001 - the error text is what the test checks
            res["error"] = f"{type(e).__name__}: {e}"
        if res["loaded"]:
            program = deserialize(open(case["blob"], "rb").read())
            shape = tuple(case["shape"])

            def bit_exact(n: int = 3) -> bool:
                ok = True
                for _ in range(n):
                    x = rng.standard_normal(shape).astype(np.float32)
                    got = method.execute([torch.from_numpy(x)])[0].numpy()
                    want = np.asarray(reference.run(program, [x])[0], np.float32).reshape(got.shape)
                    ok &= bool(np.array_equal(got.view(np.uint32), want.view(np.uint32)))
                return ok

            res["outputs_bit_exact"] = bit_exact()
            if case.get("bad_inputs"):
                bad = {"shape": torch.randn(*shape[:-1], shape[-1] + 1), "rank": torch.randn(*shape[1:]),
                       "dtype_int8": torch.zeros(shape, dtype=torch.int8),
                       "dtype_float64": torch.zeros(shape, dtype=torch.float64), "count": None}
                for name, x in bad.items():
                    print(f"=== case {case['name']}/{name}", file=sys.stderr, flush=True)
                    try:
                        method.execute([] if x is None else [x])
                        res["bad_inputs"][name] = "no error"
                    except Exception as e:  # noqa: BLE001
                        res["bad_inputs"][name] = f"{type(e).__name__}: {e}"
                res["outputs_bit_exact_after_bad_inputs"] = bit_exact()
        print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
