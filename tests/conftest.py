import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # shared test helpers (models.py, fmnist_model.py)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """scripts/test.sh (and so CI) installs every tool and data set first; there a skipped test means a broken set-up
    and fails (MCUFORMER_NO_SKIP=1). Run pytest directly to allow skips on a partial machine."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("MCUFORMER_NO_SKIP") == "1" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped where nothing may be skipped (MCUFORMER_NO_SKIP=1): {reason}"
