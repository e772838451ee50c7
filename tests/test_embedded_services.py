"""The embedded PostgreSQL and Redis are real servers that survive a killed run."""

import os
import signal

import psutil
import psycopg2
import pytest
import redis

from ma_core.embedded import EmbeddedPostgres, EmbeddedRedis


@pytest.fixture
def postgres(tmp_path):
    server = EmbeddedPostgres(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def redis_server(tmp_path):
    server = EmbeddedRedis(tmp_path)
    yield server
    server.stop()


def test_postgres_starts_keeps_data_and_is_reused(postgres):
    # given a fresh data directory
    url = postgres.ensure_running()
    assert postgres.started_here
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('データ')")
    conn.close()
    # when another process asks for it while it runs, it is reused, not restarted
    again = EmbeddedPostgres(postgres.data_dir)
    assert again.ensure_running() == url
    assert not again.started_here
    # and after a stop and start the data is still there
    postgres.stop()
    assert postgres.running_port() is None
    url = postgres.ensure_running()
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT v FROM kept")
        assert cur.fetchone() == ("データ",)
    conn.close()


def test_postgres_killed_run_is_restarted_not_a_crash(postgres):
    # given a server whose run was killed (postmaster SIGKILLed, pid file left behind)
    postgres.ensure_running()
    pid = int((postgres.pgdata / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(pid)
    postmaster.kill()
    for child in psutil.process_iter(["cmdline"]):
        if str(postgres.pgdata) in " ".join(child.info["cmdline"] or []):
            child.kill()
    # (a process with gigabytes of shared buffers takes a moment to be gone)
    psutil.wait_procs([postmaster], timeout=10)
    assert (postgres.pgdata / "postmaster.pid").exists()
    # when Kizuki starts again
    url = postgres.ensure_running()
    # then it runs and answers
    assert postgres.started_here
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    conn.close()


def test_redis_killed_run_is_restarted_and_keeps_data(redis_server):
    url = redis_server.ensure_running()
    client = redis.Redis.from_url(url)
    client.set("kizuki:test", "残る")
    client.execute_command("BGREWRITEAOF")
    # when the server is killed outright
    pid = int(redis_server.pid_file.read_text())
    import time

    deadline = time.monotonic() + 10
    while client.info("persistence")["aof_rewrite_in_progress"] and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(10)
    # then the next start detects the stale pid file and starts a fresh server
    assert redis_server.running_port() is None
    url = redis_server.ensure_running()
    assert redis_server.started_here
    assert redis.Redis.from_url(url).get("kizuki:test").decode() == "残る"


def test_a_busy_preferred_port_is_not_fatal(redis_server, tmp_path):
    import socket

    from ma_core.embedded import PREFERRED_REDIS_PORT, port_is_free

    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        if port_is_free(PREFERRED_REDIS_PORT):
            blocker.bind(("127.0.0.1", PREFERRED_REDIS_PORT))
            blocker.listen()
        url = redis_server.ensure_running()
        assert not url.endswith(f":{PREFERRED_REDIS_PORT}/0")
        assert redis.Redis.from_url(url).ping()
    finally:
        blocker.close()


@pytest.mark.django_db
def test_the_event_writer_drains_the_embedded_redis(redis_server, settings):
    # given events queued in the embedded Redis (6.2, which `make run` uses)
    import datetime
    import uuid

    from tracking import writer
    from tracking.models import Event

    settings.REDIS_URL = redis_server.ensure_running()
    client = writer.redis_client()
    assert client.info("server")["redis_version"].startswith("6.")
    at = datetime.datetime.now(datetime.UTC).isoformat()
    events = [
        {"uid": str(uuid.uuid4()), "type": "custom", "occurred_at": at, "url": "", "properties": {}}
        for _ in range(3)
    ]
    writer.enqueue(events, client)
    # when the writer drains it (claiming pending batches first, as every run does)
    stored = writer.drain()
    # then every event is a row
    assert stored == 3
    assert Event.objects.filter(event_uid__in=[e["uid"] for e in events]).count() == 3
