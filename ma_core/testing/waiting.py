"""Waiting in tests for what another process does."""

from __future__ import annotations

import time


def wait_until(predicate, timeout: float = 60, what: str = "the worker") -> float:
    """Poll ``predicate`` every 50 ms until it is true; fail after ``timeout``
    seconds. Returns the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - start
