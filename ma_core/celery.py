"""The Celery app. Workers and beat load Django settings from the same env."""

import os

from celery import Celery, Task, bootsteps, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ma_core.settings")


class KizukiTask(Task):
    """Sends each task with its own ``ignore_result``.

    Celery's ``send_task`` only looks at an explicit ``ignore_result`` option;
    without it every ``delay()`` subscribes to the result channel on the Redis
    backend, which costs a round trip per call and, when that connection is
    broken, blocks the caller while it reconnects. Fire-and-forget tasks (all
    but a few) must never do either.
    """

    def apply_async(
        self,
        args=None,
        kwargs=None,
        task_id=None,
        producer=None,
        link=None,
        link_error=None,
        shadow=None,
        **options,
    ):
        options.setdefault("ignore_result", self.ignore_result)
        return super().apply_async(
            args, kwargs, task_id, producer, link, link_error, shadow, **options
        )


app = Celery("kizuki", task_cls=KizukiTask)
app.config_from_object("django.conf:settings", namespace="CELERY")


app.autodiscover_tasks()


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Writes a heartbeat to Redis every few seconds while the worker consumes.

    ``/healthz`` reads it to say whether any worker is alive.
    """

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs) -> None:
        self.tref = None

    def start(self, worker) -> None:
        from ma_core.health import record_worker_heartbeat

        hostname = worker.hostname

        def beat() -> None:
            try:
                record_worker_heartbeat(hostname)
            except Exception:
                app.log.get_default_logger().warning("worker heartbeat not recorded")

        beat()
        self.tref = worker.timer.call_repeatedly(10.0, beat)

    def stop(self, worker) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None


app.steps["worker"].add(WorkerHeartbeat)


@signals.beat_init.connect
def _beat_started(sender=None, **kwargs) -> None:
    """Beat says it is up at once; the scheduled heartbeat keeps it fresh."""
    from ma_core.health import record_beat_heartbeat

    try:
        record_beat_heartbeat()
    except Exception:  # health reporting must never stop beat
        app.log.get_default_logger().warning("beat heartbeat not recorded")
