"""Celery: Redis broker, JSON, late acks, named queues, time limits.

Long waits are never Celery ETA/countdown tasks (Redis redelivers them after
the visibility timeout); scheduled work is rows in PostgreSQL that
beat-driven dispatchers claim. The beat schedule lives in ma_core/schedule.py.
"""

from kombu import Queue

from ma_core.schedule import BEAT_SCHEDULE

from .data_stores import KIZUKI_DATA_DIR, REDIS_URL
from .web import TIME_ZONE

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_EXPIRES = 3600
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True

# A task is acknowledged after it ran, and a worker takes one at a time, so a
# killed worker's task is redelivered rather than lost; every task is
# idempotent (STYLE.md rule 3) so the redelivery is harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None

CELERY_TASK_SOFT_TIME_LIMIT = 300
CELERY_TASK_TIME_LIMIT = 360

CELERY_TASK_DEFAULT_QUEUE = "default"
KIZUKI_QUEUES = ("default", "tracking", "mail", "sync")
CELERY_TASK_QUEUES = [Queue(name) for name in KIZUKI_QUEUES]
CELERY_TASK_ROUTES = {
    # Mail a visitor waits for goes through the mail queue, not the busy tracking one.
    "tracking.tasks.send_double_opt_in_mail": {"queue": "mail"},
    "tracking.tasks.redeliver_double_opt_in_mails": {"queue": "mail"},
    "tracking.*": {"queue": "tracking"},
    "scenarios.*": {"queue": "mail"},
    "sfa_sync.*": {"queue": "sync"},
}

CELERY_BEAT_SCHEDULE = BEAT_SCHEDULE
CELERY_BEAT_SCHEDULE_FILENAME = str(KIZUKI_DATA_DIR / "celerybeat-schedule")
