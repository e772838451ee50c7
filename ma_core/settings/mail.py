"""Outgoing mail: SMTP by URL, or an ESP through django-anymail."""

from .env import email_config, get_from_env
from .web import IS_PRODUCTION

DEFAULT_FROM_EMAIL = get_from_env("DEFAULT_FROM_EMAIL", "Kizuki <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

_esp = get_from_env("ANYMAIL_ESP")
_email_url = get_from_env("EMAIL_URL")

ANYMAIL = {}
if _esp:
    EMAIL_BACKEND = f"anymail.backends.{_esp}.EmailBackend"
    ANYMAIL[f"{str(_esp).upper()}_API_KEY"] = get_from_env("ANYMAIL_API_KEY", "")
elif _email_url:
    _cfg = email_config(str(_email_url))
    EMAIL_BACKEND = _cfg["EMAIL_BACKEND"]
    EMAIL_HOST = _cfg.get("EMAIL_HOST", "localhost")
    EMAIL_PORT = _cfg.get("EMAIL_PORT", 25)
    EMAIL_HOST_USER = _cfg.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = _cfg.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = _cfg.get("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = _cfg.get("EMAIL_USE_SSL", False)
elif IS_PRODUCTION:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_TIMEOUT = 20

_webhook_secret = get_from_env("ANYMAIL_WEBHOOK_SECRET")
if _webhook_secret:
    ANYMAIL["WEBHOOK_SECRET"] = _webhook_secret
