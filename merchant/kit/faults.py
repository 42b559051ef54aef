"""Crash points for crash tests: a test process told to die at one is killed there by SIGKILL.

The crash tests (tests/checkout/test_crash_recovery.py) stop a real ``merchant serve`` exactly
at a recovery point of checkout complete, as a power cut or the OOM killer would: no exception,
no ``finally``, no cleanup. ``MERCHANT_TEST_CRASH_AT=<point>`` arms one point, and only in a
process started with ``MERCHANT_ENV=test``; in any other environment the variable is ignored, so
no production process can be told to die.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

CRASH_AT = "MERCHANT_TEST_CRASH_AT"
POINTS = frozenset({"before_charge", "after_charge"})  # checkout complete, around the PSP call


def armed(environ: Mapping[str, str]) -> str | None:
    """The crash point this environment arms: only a test process has one."""
    if environ.get("MERCHANT_ENV") != "test":
        return None
    return environ.get(CRASH_AT)


def crash_point(name: str) -> None:
    """Die here, at once and without cleanup, if this test process was told to."""
    if name not in POINTS:
        raise ValueError(f"unknown crash point {name!r}")
    if armed(os.environ) == name:
        os.kill(os.getpid(), signal.SIGKILL)
