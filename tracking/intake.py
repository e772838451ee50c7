"""Turning what browsers and API clients send into normalized events.

Validation is cheap and per event: one bad event is reported by its index
and the rest of the batch is kept.
"""

from __future__ import annotations

import datetime
import time
import uuid
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext as _

from tracking.models import EventType, Site

MAX_BODY_BYTES = 64 * 1024
MAX_URL_CHARS = 2048
MAX_TITLE_CHARS = 500
MAX_EVENTS_PER_REQUEST = 50
MAX_ANON_ID_CHARS = 64
#: Browser clocks drift; a timestamp further off than this is not believed.
CLOCK_SKEW = datetime.timedelta(hours=24)
#: Types a browser may send; form submissions and email events are recorded
#: by the server itself, so a page cannot forge them.
BROWSER_TYPES = {EventType.PAGE_VIEW, EventType.DOWNLOAD, EventType.OUTBOUND_CLICK, "custom"}
SITE_CACHE_SECONDS = 30


class IntakeError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Intake:
    events: list[dict] = field(default_factory=list)
    rejected: dict[str, list[str]] = field(default_factory=dict)


_site_cache: dict[str, tuple[float, Site | None]] = {}


def site_for_key(key: str) -> Site | None:
    """Sites change rarely and are asked for on every hit: cache briefly per process."""
    now = time.monotonic()
    cached = _site_cache.get(key)
    if cached and now - cached[0] < SITE_CACHE_SECONDS:
        return cached[1]
    site = Site.objects.filter(key=key, is_active=True).first()
    _site_cache[key] = (now, site)
    return site


def origin_allowed(site: Site, origin_host: str) -> bool:
    host = (origin_host or "").lower().split(":")[0]
    if not host:
        return False
    return any(host == d.lower() or host.endswith("." + d.lower()) for d in site.domains)


def parse_timestamp(value, now: datetime.datetime) -> datetime.datetime:
    if value in (None, ""):
        return now
    if isinstance(value, int | float):
        moment = datetime.datetime.fromtimestamp(value / 1000, tz=datetime.UTC)
    else:
        from django.utils.dateparse import parse_datetime

        moment = parse_datetime(str(value))
        if moment is None:
            raise ValueError(_("Use an ISO 8601 time or milliseconds since 1970."))
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
    return moment


def normalize_browser_event(
    raw: object, *, site: Site, anon_id: str, user_agent: str, ip: str | None, now
) -> dict:
    """One event from the snippet or pixel → normalized dict (raises ValueError)."""
    if not isinstance(raw, dict):
        raise ValueError(_("An event is a JSON object."))
    event_type = str(raw.get("type") or "")
    if event_type not in BROWSER_TYPES:
        raise ValueError(
            _("“%(type)s” is not an event type a page may send.") % {"type": event_type}
        )
    url = str(raw.get("url") or "")
    if len(url) > MAX_URL_CHARS:
        raise ValueError(_("The URL is longer than %(max)d characters.") % {"max": MAX_URL_CHARS})
    try:
        occurred_at = parse_timestamp(raw.get("ts"), now)
    except (ValueError, OverflowError, OSError) as exc:
        raise ValueError(_("The time is not readable: %(e)s") % {"e": exc}) from None
    if abs(occurred_at - now) > CLOCK_SKEW:
        raise ValueError(_("The time is too far from now to be believed."))
    props = raw.get("props") or {}
    if not isinstance(props, dict):
        raise ValueError(_("props must be a JSON object."))
    try:
        uid = str(uuid.UUID(str(raw.get("id")))) if raw.get("id") else str(uuid.uuid4())
    except ValueError:
        raise ValueError(_("The event id must be a UUID.")) from None
    return {
        "uid": uid,
        "type": event_type,
        "occurred_at": occurred_at.isoformat(),
        "site_id": site.pk,
        "anon_id": anon_id,
        "lead_id": None,
        "url": url,
        "title": str(raw.get("title") or "")[:MAX_TITLE_CHARS],
        "referrer": str(raw.get("referrer") or "")[:MAX_URL_CHARS],
        "properties": props,
        "ua": user_agent[:400],
        "ip": ip,
    }


def read_collect_payload(body: bytes) -> dict:
    import json

    if len(body) > MAX_BODY_BYTES:
        raise IntakeError("too_large", _("The payload is larger than 64 KB."), status=413)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise IntakeError("not_utf8", _("The payload must be UTF-8 encoded JSON.")) from None
    try:
        payload = json.loads(text)
    except ValueError:
        raise IntakeError("malformed", _("The payload is not valid JSON.")) from None
    if not isinstance(payload, dict):
        raise IntakeError("malformed", _("The payload must be a JSON object."))
    return payload


def valid_anon_id(value: object) -> str:
    anon = str(value or "")
    if not anon or len(anon) > MAX_ANON_ID_CHARS or not all(c.isalnum() or c in "-_" for c in anon):
        raise IntakeError("bad_visitor", _("The visitor id is missing or malformed."))
    return anon
