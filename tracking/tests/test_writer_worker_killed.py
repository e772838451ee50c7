"""A writer killed in the middle of a drain stored on two connections: the
batches it committed are not stored again, the ones it held are not lost."""

import datetime
import uuid

import psycopg2
import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from ma_core.testing.waiting import wait_until
from tracking import writer
from tracking.models import Event, Visit, Visitor
from tracking.tasks import drain_events

BROWSERS, VIEWS = 2_000, 15  # 30,000 page views: six batches


def page_views(site) -> list[dict]:
    """Each browser's views a minute apart, all browsers interleaved in time order."""
    start = timezone.now() - datetime.timedelta(hours=1)
    return [
        {
            "uid": str(uuid.uuid4()),
            "type": "page_view",
            "occurred_at": (start + datetime.timedelta(minutes=view, microseconds=b)).isoformat(),
            "site_id": site.pk,
            "anon_id": f"browser-{b}",
            "lead_id": None,
            "url": f"https://www.example.co.jp/p/{view}",
            "title": "製品紹介",
            "referrer": "",
            "properties": {},
            "ua": "Mozilla/5.0 (Windows NT 10.0) Chrome/120",
            "ip": "203.0.113.77",
        }
        for view in range(VIEWS)
        for b in range(BROWSERS)
    ]


@pytest.mark.django_db(transaction=True)
def test_a_writer_killed_mid_drain_stores_every_event_once(
    site, redis_client, celery_worker_process, monkeypatch
):
    # given six batches waiting and a tracking worker draining them
    events = page_views(site)
    for i in range(0, len(events), 1000):
        writer.enqueue(events[i : i + 1000])
    worker = celery_worker_process("tracking")
    drain_events.delay()
    # when, once a batch is stored, another session holds the visits (so the
    # next store waits, its successor copied in on the other connection) and
    # the worker is killed
    wait_until(lambda: Event.objects.exists(), what="the first batch")
    other = psycopg2.connect(**connection.get_connection_params())
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN; LOCK TABLE tracking_visit IN EXCLUSIVE MODE")
        waiting = "SELECT count(*) FROM pg_locks WHERE relation = 'tracking_visit'::regclass"
        wait_until(lambda: _count(waiting) > 1, what="a store waiting for the visits")
        stored_before = Event.objects.count()
        worker.kill()
    finally:
        other.close()
    assert 0 < stored_before < len(events)
    # then the next writer, once the claims time out, stores what was left
    monkeypatch.setattr(writer, "CLAIM_IDLE_MS", 0)
    client = writer.redis_client()

    def drained() -> bool:
        while writer.drain():
            pass
        return not client.xlen(writer.STREAM)

    wait_until(drained, what="the stream to empty")
    # and every event is there once, each browser with one visit of all its views
    assert Event.objects.count() == len(events)
    assert Event.objects.values("event_uid").distinct().count() == len(events)
    assert Visitor.objects.count() == BROWSERS
    assert set(Visitor.objects.values_list("visit_count", "page_view_count")) == {(1, VIEWS)}
    assert Visit.objects.count() == BROWSERS
    assert set(Visit.objects.values_list("page_views", flat=True)) == {VIEWS}
    assert Visit.objects.aggregate(views=Sum("page_views"))["views"] == len(events)
    assert client.xpending(writer.STREAM, writer.GROUP)["pending"] == 0


def _count(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]
