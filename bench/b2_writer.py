"""B2: the event write path from normalized events into the partitioned table.

Figure: rows/s of ``tracking.writer.write_batch`` (visitors, visits, COPY into
a staging table, INSERT … ON CONFLICT) for the same events. Baseline: plain
COPY FROM STDIN of the same rows straight into ``tracking_event`` (what
``psql \\copy`` does), measured in the same run.
"""

from __future__ import annotations

import datetime
import io
import random
import time
import uuid

from bench.harness import Figure

EVENTS = {"tiny": 20_000, "medium": 500_000, "full": 2_000_000}
VISITORS_PER_EVENT = 0.2


def _events(count: int, site_id: int) -> list[dict]:
    rng = random.Random(2026)
    now = datetime.datetime.now(datetime.UTC)
    visitors = max(1, int(count * VISITORS_PER_EVENT))
    pages = [f"https://bench.example/p/{i}" for i in range(200)]
    return [
        {
            "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "type": "page_view",
            "occurred_at": (
                now - datetime.timedelta(seconds=rng.randrange(86400 * 20))
            ).isoformat(),
            "site_id": site_id,
            "anon_id": f"bv-{rng.randrange(visitors)}",
            "lead_id": None,
            "url": pages[min(int(rng.paretovariate(1.2)) - 1, 199)],
            "title": "ページ",
            "referrer": "",
            "properties": {},
            "ua": "Mozilla/5.0 Chrome/120",
            "ip": "198.51.100.7",
        }
        for _ in range(count)
    ]


def _truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE tracking_event, tracking_visit, tracking_visitor CASCADE")


def run(size: dict) -> list[Figure]:
    from django.db import connection, transaction

    from tracking import writer
    from tracking.models import Site

    count = EVENTS[size["name"]]
    site, _ = Site.objects.get_or_create(name="bench", defaults={"domains": ["bench.example"]})
    events = _events(count, site.pk)

    _truncate()
    started = time.perf_counter()
    for i in range(0, count, writer.BATCH_SIZE):
        writer.write_batch([dict(e) for e in events[i : i + writer.BATCH_SIZE]])
    ours = count / (time.perf_counter() - started)

    _truncate()
    buffer = io.StringIO()
    for e in events:
        buffer.write(f"{e['uid']}\t{e['occurred_at']}\t{e['type']}\t{site.pk}\t{e['url']}\t{{}}\n")
    buffer.seek(0)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            "COPY tracking_event (event_uid, occurred_at, type, site_id, url, properties) "
            "FROM STDIN",
            buffer,
        )
    copy_rate = count / (time.perf_counter() - started)
    _truncate()
    return [
        Figure(
            bench_id="B2",
            workload=f"write {count} page views (Zipf pages, {int(count * VISITORS_PER_EVENT)} "
            "visitors) through the batch writer",
            figure="rows/s",
            unit="rows/s",
            value=ours,
            baseline="COPY FROM STDIN of the same rows (psql \\copy)",
            baseline_value=copy_rate,
        )
    ]
