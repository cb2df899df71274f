"""The runner's errors: a failed build, a budget the linker refuses, a firmware exit code, a QEMU timeout."""
from __future__ import annotations


class McuError(RuntimeError):
    """The firmware (or a tool) failed. `code` is the firmware's exit code when there is one."""

    def __init__(self, message: str, code: int | None = None, log: str = ""):
        super().__init__(message if code is None else f"firmware error {code}: {message}")
        self.code = code
        self.message = message
        self.log = log


class McuBuildError(McuError):
    pass


class McuBudgetError(McuBuildError):
    """The linker found a memory region over budget."""

    def __init__(self, region: str, overflow_bytes: int, log: str = ""):
        super().__init__(f"region '{region}' overflowed by {overflow_bytes} bytes", log=log)
        self.region = region
        self.overflow_bytes = overflow_bytes


class McuTimeout(McuError):
    pass
