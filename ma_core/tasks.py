"""Wiring tasks: liveness of beat and the workers."""

from celery import shared_task

from ma_core.health import record_beat_heartbeat as _record_beat


@shared_task(name="ma_core.tasks.record_beat_heartbeat")
def record_beat_heartbeat() -> None:
    """Beat enqueues this every 30 s; a worker running it proves both are alive.

    Idempotent: it overwrites one timestamp.
    """
    _record_beat()


@shared_task(name="ma_core.tasks.ping", ignore_result=False)
def ping(payload: str) -> dict:
    """Round trip through the broker and the result backend (used by health checks)."""
    from celery import current_task

    return {"payload": payload, "worker": current_task.request.hostname}
