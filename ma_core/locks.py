"""PostgreSQL session-level advisory locks: one holder at a time, released
with the connection if its process dies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection


@contextmanager
def session_lock(*keys: int) -> Iterator[bool]:
    """Try to take the advisory lock ``keys`` (one bigint or two int4) for
    this database session; yields whether it did, and releases it after.

    The lock lives as long as the database connection, so a worker that dies
    while holding it releases it with its connection. It needs a connection
    pinned to one session: direct, or PgBouncer in session mode, not
    transaction mode."""
    placeholders = ", ".join(["%s"] * len(keys))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_try_advisory_lock({placeholders})", list(keys))
        locked = bool(cursor.fetchone()[0])
    try:
        yield locked
    finally:
        if locked:
            try:
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT pg_advisory_unlock({placeholders})", list(keys))
            except DatabaseError:
                # The session is broken (the database went away, or a failed
                # transaction is still open): closing it releases the lock,
                # and the error that broke it is the one to report.
                connection.close()
