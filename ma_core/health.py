"""Health of the parts Kizuki needs: PostgreSQL, Redis, a worker, beat."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection

WORKER_KEY_PREFIX = "kizuki:heartbeat:worker:"
BEAT_KEY = "kizuki:heartbeat:beat"
WORKER_HEARTBEAT_TTL = 45
BEAT_STALE_AFTER = 120


def _redis() -> redis.Redis:
    return _client_for(settings.REDIS_URL)


@functools.lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    # One pooled client per URL: a health probe every few seconds should not
    # open a new TCP connection each time.
    return redis.Redis.from_url(
        url, socket_connect_timeout=1, socket_timeout=1, decode_responses=True
    )


def record_worker_heartbeat(hostname: str) -> None:
    _redis().set(WORKER_KEY_PREFIX + hostname, f"{time.time():.3f}", ex=WORKER_HEARTBEAT_TTL)


def record_beat_heartbeat() -> None:
    _redis().set(BEAT_KEY, f"{time.time():.3f}", ex=BEAT_STALE_AFTER * 10)


@dataclass
class Check:
    ok: bool
    detail: dict

    def as_json(self) -> dict:
        return {"status": "ok" if self.ok else "down", **self.detail}


def check_database() -> Check:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        connection.close_if_unusable_or_obsolete()
        return Check(False, {"error": type(exc).__name__})
    return Check(True, {"latency_ms": round((time.perf_counter() - started) * 1000, 1)})


def check_redis() -> tuple[Check, redis.Redis | None]:
    started = time.perf_counter()
    client = _redis()
    try:
        client.ping()
    except redis.RedisError as exc:
        return Check(False, {"error": type(exc).__name__}), None
    return Check(True, {"latency_ms": round((time.perf_counter() - started) * 1000, 1)}), client


def check_workers(client: redis.Redis | None) -> Check:
    if client is None:
        return Check(False, {"error": "redis unreachable"})
    now = time.time()
    workers = {}
    for key in client.scan_iter(match=WORKER_KEY_PREFIX + "*", count=100):
        value = client.get(key)
        if value is not None:
            workers[key.removeprefix(WORKER_KEY_PREFIX)] = round(now - float(value), 1)
    return Check(bool(workers), {"seconds_since_heartbeat": workers})


def check_beat(client: redis.Redis | None) -> Check:
    if client is None:
        return Check(False, {"error": "redis unreachable"})
    value = client.get(BEAT_KEY)
    if value is None:
        return Check(False, {"seconds_since_heartbeat": None})
    age = round(time.time() - float(value), 1)
    return Check(age <= BEAT_STALE_AFTER, {"seconds_since_heartbeat": age})


def health_report() -> tuple[bool, dict]:
    """Return (healthy, report). Beat is reported but only the database, Redis
    and at least one worker decide the status code, so a web-only deployment
    behind a load balancer is not taken out by a beat restart."""
    database = check_database()
    redis_check, client = check_redis()
    worker = check_workers(client)
    beat = check_beat(client)
    healthy = database.ok and redis_check.ok and worker.ok
    return healthy, {
        "status": "ok" if healthy else "down",
        "database": database.as_json(),
        "redis": redis_check.as_json(),
        "worker": worker.as_json(),
        "beat": beat.as_json(),
    }
