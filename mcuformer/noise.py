"""Third-party noise dropped where it arises, so that what the command line and the test log show is ours.

Each filter matches one known message, not a whole logger or category:
- torchao logs "Failed to load .../torchao/_C_*.so" for its optional CUDA extensions, which a CPU machine cannot load;
- torch's pytree logs a deprecation of ``register_constant()`` on Enum subclasses, which torchao calls at import;
- torch warns (FutureWarning) about ``isinstance(treespec, LeafSpec)``, which torchao does.
The test suite's Python-warning filters (DeprecationWarnings raised inside executorch, torchao and torch) are in
pyproject.toml's ``[tool.pytest.ini_options] filterwarnings``.
"""
from __future__ import annotations

import logging
import re
import warnings

LOG_NOISE = {
    "torchao": r"^Failed to load .*torchao[/\\]_C_\w*[.\w-]*\.so",
    "torch.utils._pytree": r"Calling register_constant\(\) on Enum subclasses is deprecated",
}


class _DropMatching(logging.Filter):
    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


def quiet_third_party() -> None:
    """Installs the filters (once; before torchao is imported, as its messages come at import)."""
    for name, pattern in LOG_NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMatching) for f in logger.filters):
            logger.addFilter(_DropMatching(pattern))
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
