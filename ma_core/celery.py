"""The Celery app. Workers and beat load Django settings from the same env."""

import os

from celery import Celery, bootsteps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ma_core.settings")

app = Celery("kizuki")
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
