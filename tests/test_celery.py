"""A task goes through the real Redis broker to a real worker and back."""

import pytest

from ma_core.celery import app
from ma_core.schedule import BEAT_SCHEDULE
from ma_core.tasks import ping


@pytest.mark.django_db
def test_task_round_trip_through_redis(celery_worker_process):
    celery_worker_process("default")
    result = ping.delay("こんにちは")
    answer = result.get(timeout=30)
    assert answer["payload"] == "こんにちは"
    assert answer["worker"].startswith("test-")


def test_configuration_is_safe_for_sending_work():
    conf = app.conf
    assert conf.broker_url.startswith("redis://")
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_time_limit and conf.task_soft_time_limit < conf.task_time_limit
    assert {q.name for q in conf.task_queues} == {"default", "tracking", "mail", "sync"}


def test_every_beat_entry_names_a_registered_task():
    app.loader.import_default_modules()
    for name, entry in BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name


def test_routes_send_each_app_to_its_queue():
    router = app.amqp.router
    assert router.route({}, "scenarios.tasks.send_step")["queue"].name == "mail"
    assert router.route({}, "sfa_sync.tasks.dispatch_outbox")["queue"].name == "sync"
    assert router.route({}, "tracking.tasks.drain_events")["queue"].name == "tracking"
    assert router.route({}, "ma_core.tasks.ping")["queue"].name == "default"


@pytest.mark.django_db
def test_worker_reconnects_when_redis_comes_back(tmp_path, redis_client):
    from celery import Celery
    from django.test import override_settings

    from conftest import WorkerProcess, service_env
    from ma_core.embedded import EmbeddedRedis

    # given a worker on its own real Redis, and a client of that Redis
    server = EmbeddedRedis(tmp_path)
    url = server.ensure_running()
    # set_as_current=False: shared tasks elsewhere must keep using Kizuki's app.
    client = Celery("kizuki-client", broker=url, backend=url, set_as_current=False)
    client.conf.task_default_queue = "default"
    worker = WorkerProcess("default")
    try:
        with override_settings(REDIS_URL=url):
            worker.start(service_env(REDIS_URL=url))
        assert client.send_task("ma_core.tasks.ping", ["before"]).get(timeout=30)["payload"]
        # when Redis goes away and comes back on the same address
        server.stop()
        assert server.ensure_running() == url
        # then the worker serves tasks again without a restart
        answer = client.send_task("ma_core.tasks.ping", ["after"]).get(timeout=60)
        assert answer["payload"] == "after"
        assert worker.proc.poll() is None
    finally:
        worker.stop()
        server.stop()
