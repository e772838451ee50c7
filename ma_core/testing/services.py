"""pytest plugin (``-p ma_core.testing.services``): pick real services for tests.

Loaded before Django settings are read. In order of preference:
``DATABASE_URL`` / ``REDIS_URL`` when set; else the PostgreSQL at
127.0.0.1:5432 (user postgres) and the Redis at 127.0.0.1:6379 when they
answer, as on the CI machine; else the embedded servers under ./var, which
this test run starts and stops. Tests use Redis database 15 so a developer's
queues in database 0 are never touched.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
TEST_REDIS_DB = 15


def _local_postgres() -> str | None:
    import psycopg2

    try:
        conn = psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=2
        )
    except psycopg2.Error:
        return None
    conn.close()
    return "postgres://postgres@127.0.0.1:5432/kizuki"


def _local_redis() -> str | None:
    import redis

    url = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except redis.RedisError:
        return None
    return url


def choose_services() -> None:
    os.environ.setdefault("KIZUKI_MODE", "test")
    data_dir = Path(os.environ.get("KIZUKI_DATA_DIR") or BASE_DIR / "var")
    if not os.environ.get("DATABASE_URL"):
        url = _local_postgres()
        if url is None:
            from ma_core.embedded import EmbeddedPostgres

            url = EmbeddedPostgres(data_dir).ensure_running(stop_at_exit=True)
        os.environ["DATABASE_URL"] = url
    if not os.environ.get("REDIS_URL"):
        url = _local_redis()
        if url is None:
            from ma_core.embedded import EmbeddedRedis

            url = EmbeddedRedis(data_dir).ensure_running(stop_at_exit=True)
            url = url.rsplit("/", 1)[0] + f"/{TEST_REDIS_DB}"
        os.environ["REDIS_URL"] = url


choose_services()


def pytest_report_header(config) -> list[str]:
    return [
        f"kizuki: DATABASE_URL={os.environ['DATABASE_URL']}",
        f"kizuki: REDIS_URL={os.environ['REDIS_URL']}",
    ]
