"""Settings for benchmark servers: Kizuki's own, plus a bare baseline view."""

from ma_core.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
DEBUG = False
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
