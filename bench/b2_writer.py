"""B2: the event write path from Redis into the partitioned table.

Figure: rows/s of ``tracking.writer.drain`` — read batches from the Redis
stream, COPY each into the writer's staging table, visitors, visits, INSERT
… SELECT into ``tracking_event``, acknowledge — for events already waiting
in the stream (as after a burst of traffic).
Baseline: ``COPY … FROM STDIN`` (what ``psql \\copy`` does) of the very rows
the writer stored, every column, into the same empty table, measured in the
same run. Each figure is the median of several runs.

The traffic is shaped like a site's: visitors come back a few times over 20
days, each visit is 1–8 page views a few seconds to two minutes apart, pages
follow a Zipf law, and events reach the stream in time order.
"""

from __future__ import annotations

import datetime
import io
import random
import statistics
import time
import uuid

from bench import dataset
from bench.harness import Figure

EVENTS = {"tiny": 20_000, "medium": 500_000, "full": 2_000_000}
REPEATS = {"tiny": 3, "medium": 3, "full": 1}
VISITORS_PER_EVENT = 0.2
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 Version/17.2 Safari",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36",
]


def _events(count: int, site_id: int) -> list[dict]:
    rng = random.Random(2026)
    now = datetime.datetime.now(datetime.UTC)
    visitors = max(1, int(count * VISITORS_PER_EVENT))
    pages = [f"https://bench.example/p/{i}" for i in range(200)]
    events: list[dict] = []
    while len(events) < count:
        anon = f"bv-{rng.randrange(visitors)}"
        ua = rng.choice(USER_AGENTS)
        ip = f"198.51.{rng.randrange(256)}.{rng.randrange(256)}"
        moment = now - datetime.timedelta(seconds=rng.randrange(86400 * 20))
        for _ in range(min(1 + int(rng.expovariate(1 / 2.5)), 8, count - len(events))):
            events.append(
                {
                    "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "type": "page_view",
                    "occurred_at": moment.isoformat(),
                    "site_id": site_id,
                    "anon_id": anon,
                    "lead_id": None,
                    "url": pages[min(int(rng.paretovariate(1.2)) - 1, 199)],
                    "title": "ページ",
                    "referrer": "",
                    "properties": {},
                    "ua": ua,
                    "ip": ip,
                }
            )
            moment += datetime.timedelta(seconds=rng.randrange(5, 120))
    events.sort(key=lambda e: e["occurred_at"])
    return events


def _truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE tracking_event, tracking_visit, tracking_visitor CASCADE")
    dataset.forget()


def _drain_rate(lines: list[str]) -> float:
    from tracking import writer

    client = writer.redis_client()
    client.delete(writer.STREAM)
    _truncate()
    for i in range(0, len(lines), 1000):
        writer.enqueue_lines(lines[i : i + 1000], client)
    started = time.perf_counter()
    stored = 0
    while True:
        read = writer.drain(max_batches=1000)
        stored += read
        if not read:
            break
    elapsed = time.perf_counter() - started
    assert stored == len(lines), f"drained {stored} of {len(lines)}"
    return len(lines) / elapsed


def _copy_rate() -> float:
    """Take the rows the writer stored, empty the tables, COPY them back."""
    from django.db import connection, transaction

    columns = ", ".join(writer_columns())
    stored = io.StringIO()
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(f"COPY (SELECT {columns} FROM tracking_event) TO STDOUT", stored)
        cursor.execute("TRUNCATE tracking_event")  # visitors and visits stay: same references
    rows = stored.getvalue().count("\n")
    stored.seek(0)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.cursor.copy_expert(f"COPY tracking_event ({columns}) FROM STDIN", stored)
    return rows / (time.perf_counter() - started)


def writer_columns() -> tuple[str, ...]:
    from tracking import writer

    return writer.COLUMNS


def run(size: dict) -> list[Figure]:
    from tracking.models import Site

    name = size["name"]
    count = EVENTS[name]
    site, _ = Site.objects.get_or_create(name="bench", defaults={"domains": ["bench.example"]})
    # Kept as the stream's COPY lines (strings), not as dicts: the writer
    # runs in this process, and Python's cyclic garbage collector walks
    # every live container now and then, with the GIL held. Two million
    # event dicts made that walk take the writer's threads 0.2 s or more
    # every 17 batches or so; a worker holds no such data.
    from tracking import writer

    lines = [writer._line(event) for event in _events(count, site.pk)]
    ours, copies = [], []
    for _ in range(REPEATS[name]):
        ours.append(_drain_rate(lines))
        copies.append(_copy_rate())
    _truncate()
    visits_note = f"{int(count * VISITORS_PER_EVENT)} visitors, visits of 1–8 page views"
    return [
        Figure(
            bench_id="B2",
            workload=f"drain {count} page views from the Redis stream into PostgreSQL "
            f"(Zipf pages, {visits_note})",
            figure="rows/s",
            unit="rows/s",
            value=statistics.median(ours),
            baseline="COPY FROM STDIN of the stored rows, every column (psql \\copy)",
            baseline_value=statistics.median(copies),
            samples=ours,
            baseline_samples=copies,
        )
    ]
