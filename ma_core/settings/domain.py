"""Product settings: windows and limits marketers' data depends on."""

from .env import get_from_env

# Events older than this many months are dropped, one monthly partition at a time.
KIZUKI_EVENT_RETENTION_MONTHS = get_from_env("EVENT_RETENTION_MONTHS", 25, cast=int)
# A known lead whose previous visit was at least this many days ago "returned" (久しぶり).
KIZUKI_ABSENCE_DAYS = get_from_env("ABSENCE_DAYS", 60, cast=int)
# Store visitors' IP addresses truncated to their network (/24, /48).
KIZUKI_TRUNCATE_IP = get_from_env("TRUNCATE_IP", True, cast=bool)
# The rolling window of the behaviour score (an admin setting once created).
KIZUKI_SCORE_WINDOW_DAYS = get_from_env("SCORE_WINDOW_DAYS", 90, cast=int)
