"""/healthz tells which part is down, with 503, and recovers when it is back."""

import pytest
from django.test import override_settings

from ma_core.embedded import EmbeddedRedis


@pytest.mark.django_db
def test_healthy_when_a_worker_is_alive(client, celery_worker_process):
    # given a real worker consuming from the real broker
    celery_worker_process("default")
    # when
    response = client.get("/healthz")
    # then
    body = response.json()
    assert response.status_code == 200, body
    assert body["database"]["status"] == "ok"
    assert body["redis"]["status"] == "ok"
    assert body["worker"]["status"] == "ok"
    assert any(name.startswith("test-") for name in body["worker"]["seconds_since_heartbeat"])


@pytest.mark.django_db
def test_no_worker_is_503_and_says_worker(client, redis_client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["worker"]["status"] == "down"
    assert body["database"]["status"] == "ok"
    assert body["redis"]["status"] == "ok"


@pytest.mark.django_db
def test_redis_stopped_is_503_and_says_redis(client, tmp_path):
    # given a real Redis that Kizuki uses, with a worker heartbeat in it
    server = EmbeddedRedis(tmp_path)
    url = server.ensure_running()
    try:
        with override_settings(REDIS_URL=url):
            from ma_core.health import record_beat_heartbeat, record_worker_heartbeat

            record_worker_heartbeat("w1@test")
            record_beat_heartbeat()
            assert client.get("/healthz").status_code == 200
            # when Redis stops
            server.stop()
            response = client.get("/healthz")
            # then /healthz says Redis is down, the database is not
            assert response.status_code == 503
            body = response.json()
            assert body["redis"] == {"status": "down", "error": "ConnectionError"}
            assert body["database"]["status"] == "ok"
            assert body["worker"]["status"] == "down"
            # and when it comes back, so does health (the data was kept on disk)
            assert server.ensure_running() == url
            assert client.get("/healthz").status_code == 200
    finally:
        server.stop()


@pytest.mark.django_db
def test_beat_is_reported(client, redis_client):
    from ma_core.health import record_beat_heartbeat

    assert client.get("/healthz").json()["beat"]["status"] == "down"
    record_beat_heartbeat()
    assert client.get("/healthz").json()["beat"]["status"] == "ok"
