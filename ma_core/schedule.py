"""The beat schedule, in one place.

Beat only enqueues short dispatcher tasks; each dispatcher claims due rows in
PostgreSQL (``UPDATE … WHERE state = …``), so a duplicate tick is harmless.
Apps add their entries here as their features land.
"""

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict] = {
    "beat-heartbeat": {
        "task": "ma_core.tasks.record_beat_heartbeat",
        "schedule": 30.0,
        "options": {"expires": 30},
    },
    # Every accepted event is in PostgreSQL within seconds.
    "tracking-drain-events": {
        "task": "tracking.tasks.drain_events",
        "schedule": 1.0,
        "options": {"expires": 5},
    },
    # Entries leave the 90-day window every night: recompute every score.
    "scoring-daily-rescore": {
        "task": "scoring.tasks.daily_rescore",
        "schedule": crontab(hour=4, minute=5),
    },
    # Confirmation mails a worker never took, or died while sending.
    "tracking-redeliver-double-opt-in-mails": {
        "task": "tracking.tasks.redeliver_double_opt_in_mails",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    # Alerts: score crossings, lost delivery tasks, retries after their backoff.
    "scoring-alerts-sweep": {
        "task": "scoring.alerts.sweep",
        "schedule": 30.0,
        "options": {"expires": 30},
    },
    "tracking-maintain-partitions": {
        "task": "tracking.tasks.maintain_partitions",
        "schedule": crontab(hour=3, minute=17),
    },
    # Weekly HOT lists: make due weeks, record and send due mails (catches up).
    "scoring-hotlists-dispatch": {
        "task": "scoring.hotlists.dispatch",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    # Due newsletters become send rows; due sends are claimed and delivered.
    "scenarios-dispatch": {
        "task": "scenarios.tasks.dispatch",
        "schedule": 10.0,
        "options": {"expires": 10},
    },
    # SFA: send due outbox rows (handoffs, updates, retries after their backoff).
    "sfa-sync-dispatch-outbox": {
        "task": "sfa_sync.tasks.dispatch_outbox",
        "schedule": 5.0,
        "options": {"expires": 5},
    },
    # SFA: handed-over leads whose score changed since the last push.
    "sfa-sync-scores": {
        "task": "sfa_sync.tasks.sync_scores",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    # SFA: deal statuses changed in kintone (won / lost).
    "sfa-sync-poll-inbound": {
        "task": "sfa_sync.tasks.poll_inbound",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
}
