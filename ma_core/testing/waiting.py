"""Waiting in tests for what another process does."""

from __future__ import annotations

import time


def wait_until(predicate, timeout: float = 60, what: str = "the other process") -> None:
    """Poll ``predicate`` every 50 ms until it is true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
