"""Monthly partitions of ``tracking_event``: created ahead, dropped whole.

Retention never runs a bulk DELETE: a month that has left the retention
window is one ``DROP TABLE``. Month boundaries are in UTC so a partition's
range never depends on the deployment's time zone.
"""

from __future__ import annotations

import datetime
import re

from django.conf import settings
from django.db import connection
from django.utils import timezone

PARENT = "tracking_event"
NAME = re.compile(r"^tracking_event_y(\d{4})m(\d{2})$")
#: Months created ahead of today, so a slow beat never leaves "now" without a home.
MONTHS_AHEAD = 3


def retention_months() -> int:
    return int(settings.KIZUKI_EVENT_RETENTION_MONTHS)


def month_start(moment: datetime.datetime | datetime.date) -> datetime.date:
    if isinstance(moment, datetime.datetime):
        moment = moment.astimezone(datetime.UTC)
    return datetime.date(moment.year, moment.month, 1)


def add_months(day: datetime.date, months: int) -> datetime.date:
    index = day.year * 12 + day.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def partition_name(month: datetime.date) -> str:
    return f"{PARENT}_y{month.year:04d}m{month.month:02d}"


def existing_partitions() -> list[datetime.date]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.relname = %s
            """,
            [PARENT],
        )
        names = [row[0] for row in cursor.fetchall()]
    months = []
    for name in names:
        match = NAME.match(name)
        if match:
            months.append(datetime.date(int(match[1]), int(match[2]), 1))
    return sorted(months)


def oldest_kept_month(now: datetime.datetime | None = None) -> datetime.date:
    return add_months(month_start(now or timezone.now()), -(retention_months() - 1))


def ensure_partitions(
    first: datetime.date | None = None, last: datetime.date | None = None
) -> list[str]:
    """Create the monthly partitions from ``first`` to ``last`` (inclusive) that
    are missing; by default the whole retention window plus MONTHS_AHEAD.
    Idempotent. Returns the names created."""
    now = timezone.now()
    first = month_start(first) if first else oldest_kept_month(now)
    last = month_start(last) if last else add_months(month_start(now), MONTHS_AHEAD)
    have = set(existing_partitions())
    created = []
    month = first
    with connection.cursor() as cursor:
        while month <= last:
            if month not in have:
                name = partition_name(month)
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {PARENT} "
                    "FOR VALUES FROM (%s) TO (%s)",
                    [
                        datetime.datetime.combine(month, datetime.time(), datetime.UTC),
                        datetime.datetime.combine(
                            add_months(month, 1), datetime.time(), datetime.UTC
                        ),
                    ],
                )
                created.append(name)
            month = add_months(month, 1)
    return created


def drop_expired_partitions(now: datetime.datetime | None = None) -> list[str]:
    """Drop every partition wholly older than the retention window."""
    cutoff = oldest_kept_month(now)
    dropped = []
    with connection.cursor() as cursor:
        for month in existing_partitions():
            if month < cutoff:
                name = partition_name(month)
                cursor.execute(f"DROP TABLE IF EXISTS {name}")
                dropped.append(name)
    return dropped
