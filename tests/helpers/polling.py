"""Waiting for a condition in tests that watch another process (a job child, a runner)."""

from __future__ import annotations

import time


def until(pred, timeout: float = 60.0, poll: float = 0.05):
    """Call `pred` every `poll` seconds until it returns something truthy, and return that;
    fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("condition not reached in time")
