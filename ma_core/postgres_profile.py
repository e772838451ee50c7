"""The PostgreSQL server settings Kizuki is built and measured for.

PostgreSQL's defaults fit a small shared machine: 128 MB of shared buffers
and a checkpoint every 1 GB of WAL. Kizuki's heavy statements are set-based
writes over many rows — the event writer's batches, a rescore that rewrites
the score of a million leads, the ledger rebuild — and with the defaults
those statements write their own dirty pages out of a buffer pool smaller
than the tables they touch, and checkpoint so often that most page updates
also write a full-page image into the WAL.

``server_settings`` gives the settings for a server allowed ``memory``
bytes (the usual sizing: a quarter of it for shared buffers, the rest left
to the OS page cache, larger WAL between checkpoints, compressed full-page
images, SSD costs). The embedded server starts with them; docker-compose.yml
passes the same settings for an 8 GB database host; ``python -m
ma_core.postgres_profile [MEMORY]`` prints them as ``postgresql.conf``
lines for any other server.
"""

from __future__ import annotations

import os
import re
import sys

MB = 2**20
GB = 2**30

#: Memory the embedded server may plan for when ``KIZUKI_POSTGRES_MEMORY`` is
#: unset: this share of the machine (web, workers and beat run beside it).
EMBEDDED_SHARE = 0.5

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'8GB', '512MB', '2g', '1048576' → bytes. ValueError on anything else."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (say e.g. 8GB or 512MB)")
    number, unit = float(match.group(1)), match.group(2).lower()
    return int(number * {"": 1, "k": 2**10, "m": MB, "g": GB, "t": 2**40}[unit])


def _mb(value: float, low: int, high: int) -> str:
    """A size in whole MB, kept within [low, high] MB."""
    return f"{int(min(max(value / MB, low), high))}MB"


def server_settings(memory: int) -> dict[str, str]:
    """postgresql.conf settings for a server that may use ``memory`` bytes."""
    return {
        # A quarter for PostgreSQL's own buffers, the rest to the OS page
        # cache, which the planner is told about.
        "shared_buffers": _mb(memory / 4, 128, 16 * 1024),
        "effective_cache_size": _mb(memory * 3 / 4, 512, 64 * 1024),
        "maintenance_work_mem": _mb(memory / 16, 64, 2048),
        "wal_buffers": "64MB",
        # Checkpoints by time, not every GB of WAL: fewer full-page images
        # while a rescore rewrites many rows, and those compressed.
        "max_wal_size": "8GB",
        "min_wal_size": "1GB",
        "checkpoint_timeout": "15min",
        "checkpoint_completion_target": "0.9",
        "wal_compression": "on",
        # Solid-state storage: random reads cost about what sequential ones do.
        "random_page_cost": "1.1",
        "effective_io_concurrency": "200",
    }


def machine_memory() -> int:
    import psutil

    return psutil.virtual_memory().total


def embedded_memory() -> int:
    """What the embedded server plans for: ``KIZUKI_POSTGRES_MEMORY`` (e.g.
    ``4GB``) or ``EMBEDDED_SHARE`` of this machine."""
    configured = os.environ.get("KIZUKI_POSTGRES_MEMORY", "").strip()
    if not configured:
        return int(machine_memory() * EMBEDDED_SHARE)
    try:
        return parse_size(configured)
    except ValueError as exc:
        raise ValueError(f"KIZUKI_POSTGRES_MEMORY: {exc}") from None


def command_line(settings: dict[str, str]) -> list[str]:
    """The settings as ``-c name=value`` arguments of ``postgres``."""
    return [f"-c {name}={value}" for name, value in settings.items()]


def main(argv: list[str]) -> int:
    memory = parse_size(argv[0]) if argv else machine_memory()
    print(f"# Kizuki's PostgreSQL settings for a server with {memory / GB:.1f} GB")
    for name, value in server_settings(memory).items():
        print(f"{name} = {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
