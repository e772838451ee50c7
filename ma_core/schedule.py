"""The beat schedule, in one place.

Beat only enqueues short dispatcher tasks; each dispatcher claims due rows in
PostgreSQL (``UPDATE … WHERE state = …``), so a duplicate tick is harmless.
Apps add their entries here as their features land.
"""

from celery.schedules import crontab  # noqa: F401 - used by entries as they land

BEAT_SCHEDULE: dict[str, dict] = {
    "beat-heartbeat": {
        "task": "ma_core.tasks.record_beat_heartbeat",
        "schedule": 30.0,
        "options": {"expires": 30},
    },
}
