"""PostgreSQL and Redis.

With ``DATABASE_URL`` / ``REDIS_URL`` unset (never in production) Kizuki starts
a real PostgreSQL and a real Redis from pip wheels under ``KIZUKI_DATA_DIR``
and then uses them exactly like servers.
"""

from pathlib import Path

from .env import BASE_DIR, database_config, get_from_env, mode

KIZUKI_DATA_DIR = Path(str(get_from_env("KIZUKI_DATA_DIR", str(BASE_DIR / "var")))).resolve()

_database_url = get_from_env("DATABASE_URL")
_redis_url = get_from_env("REDIS_URL")

if not _database_url or not _redis_url:
    from ma_core import embedded

    if not _database_url:
        _database_url = embedded.EmbeddedPostgres(KIZUKI_DATA_DIR).ensure_running(stop_at_exit=True)
    if not _redis_url:
        _redis_url = embedded.EmbeddedRedis(KIZUKI_DATA_DIR).ensure_running(stop_at_exit=True)

DATABASE_URL = str(_database_url)
REDIS_URL = str(_redis_url)

DATABASES = {"default": database_config(DATABASE_URL)}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["CONN_MAX_AGE"] = 0 if mode() == "test" else 60
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)
# Segment searches are many small correlated subqueries whose cost estimates
# wake PostgreSQL's JIT, which then spends 100–200 ms compiling what runs in
# tens of milliseconds. Kizuki's queries are OLTP-sized: keep JIT off.
DATABASES["default"]["OPTIONS"].setdefault("options", "-c jit=off")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "kizuki",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# Uploaded files (gated assets). Shared storage between web and workers in production.
MEDIA_ROOT = KIZUKI_DATA_DIR / "media"
MEDIA_URL = "media/"
