"""Crash points (merchant.kit.faults) kill only a test process, and only at the point it names.

Before: there were none; crash tests could only raise an exception inside the test process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from merchant.kit.faults import CRASH_AT, armed, crash_point

PROBE = "from merchant.kit.faults import crash_point; crash_point('before_charge'); print('alive')"


@pytest.mark.parametrize("env", ["production", "development", "", None])
def test_outside_tests_the_variable_is_ignored(env: str | None) -> None:
    environ = {CRASH_AT: "before_charge"} | ({"MERCHANT_ENV": env} if env is not None else {})
    assert armed(environ) is None


def test_a_test_process_is_armed_at_the_point_it_names() -> None:
    assert armed({"MERCHANT_ENV": "test", CRASH_AT: "after_charge"}) == "after_charge"
    assert armed({"MERCHANT_ENV": "test"}) is None


def test_an_unknown_point_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown crash point"):
        crash_point("before_lunch")


def _probe(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MERCHANT_")}
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=clean | env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
def test_only_a_test_process_dies_by_sigkill_there() -> None:
    died = _probe(MERCHANT_ENV="test", MERCHANT_TEST_CRASH_AT="before_charge")
    assert (died.returncode, died.stdout) == (-signal.SIGKILL, "")
    for env in ("production", "development"):
        lived = _probe(MERCHANT_ENV=env, MERCHANT_TEST_CRASH_AT="before_charge")
        assert (lived.returncode, lived.stdout.strip()) == (0, "alive"), lived.stderr
    other = _probe(MERCHANT_ENV="test", MERCHANT_TEST_CRASH_AT="after_charge")
    assert (other.returncode, other.stdout.strip()) == (0, "alive"), other.stderr
