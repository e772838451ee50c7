"""Endpoints served to customers' sites: /t/collect and /t/px.gif."""

from __future__ import annotations

import base64
import logging
from urllib.parse import urlsplit

import redis
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from ma_core.api_errors import error_body
from tracking import writer
from tracking.devices import is_bot
from tracking.intake import (
    MAX_EVENTS_PER_REQUEST,
    IntakeError,
    normalize_browser_event,
    origin_allowed,
    read_collect_payload,
    site_for_key,
    valid_anon_id,
)

log = logging.getLogger(__name__)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _client_ip(request: HttpRequest) -> str | None:
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    return forwarded.split(",")[0].strip() if forwarded else request.META.get("REMOTE_ADDR")


def _origin_host(request: HttpRequest) -> str:
    origin = request.META.get("HTTP_ORIGIN") or request.META.get("HTTP_REFERER") or ""
    return urlsplit(origin).hostname or ""


def _cors(response: HttpResponse, request: HttpRequest) -> HttpResponse:
    origin = request.META.get("HTTP_ORIGIN")
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
    return response


def _opted_out(request: HttpRequest, site) -> bool:
    """Do Not Track / Global Privacy Control, honoured when the site says so."""
    return site.respect_do_not_track and (
        request.META.get("HTTP_DNT") == "1" or request.META.get("HTTP_SEC_GPC") == "1"
    )


def _error(request, code: str, message: str, status: int = 400, **extra) -> JsonResponse:
    body = error_body(code, message, extra.pop("fields", None))
    body.update(extra)
    return _cors(JsonResponse(body, status=status), request)


def store(events: list[dict]) -> str:
    """Hand events to Redis; if Redis is unreachable, write them now rather
    than lose them. Returns "queued" or "written"."""
    try:
        writer.enqueue(events)
        return "queued"
    except redis.RedisError:
        log.warning("Redis unreachable: writing %d events directly", len(events))
        writer.write_batch([dict(e) for e in events])
        return "written"


@csrf_exempt
def collect(request: HttpRequest) -> HttpResponse:
    """POST JSON {"site", "visitor", "events": [...]} (or one event inline)."""
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = "86400"
        return _cors(response, request)
    if request.method != "POST":
        return _error(request, "method_not_allowed", _("Use POST."), status=405)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    try:
        if length > 64 * 1024:
            raise IntakeError("too_large", _("The payload is larger than 64 KB."), status=413)
        payload = read_collect_payload(request.body)
        site = site_for_key(str(payload.get("site") or ""))
        if site is None:
            raise IntakeError("unknown_site", _("Unknown site key."), status=403)
        if not origin_allowed(site, _origin_host(request)):
            raise IntakeError(
                "origin_not_allowed", _("This origin is not registered for the site."), 403
            )
        anon_id = valid_anon_id(payload.get("visitor"))
    except IntakeError as exc:
        return _error(request, exc.code, exc.message, status=exc.status)

    user_agent = request.META.get("HTTP_USER_AGENT", "")
    if is_bot(user_agent):
        return _cors(JsonResponse({"accepted": 0, "ignored": "bot"}, status=202), request)
    if _opted_out(request, site):
        return _cors(JsonResponse({"accepted": 0, "ignored": "do_not_track"}, status=202), request)
    raw_events = payload.get("events") if "events" in payload else [payload]
    if not isinstance(raw_events, list) or not raw_events:
        return _error(request, "malformed", _("events must be a non-empty list."))
    if len(raw_events) > MAX_EVENTS_PER_REQUEST:
        return _error(
            request, "too_many", _("At most %(n)d events per request.") % {"n": 50}, status=413
        )
    now = timezone.now()
    ip = _client_ip(request)
    events, rejected = [], {}
    for index, raw in enumerate(raw_events):
        try:
            events.append(
                normalize_browser_event(
                    raw, site=site, anon_id=anon_id, user_agent=user_agent, ip=ip, now=now
                )
            )
        except ValueError as exc:
            rejected[f"events.{index}"] = [str(exc)]
    if events:
        store(events)
    if rejected:
        message = _("%(bad)d of %(all)d events were rejected; the others were kept.") % {
            "bad": len(rejected),
            "all": len(raw_events),
        }
        return _error(request, "invalid", message, fields=rejected, accepted=len(events))
    return _cors(JsonResponse({"accepted": len(events)}, status=202), request)


def pixel(request: HttpRequest) -> HttpResponse:
    """GET /t/px.gif?s=<site>&v=<visitor>&u=<url>&t=<title>&r=<referrer>: a page
    view without JavaScript. Always answers the image; records what is valid."""
    params = request.GET
    site = site_for_key(params.get("s", ""))
    user_agent = request.META.get("HTTP_USER_AGENT", "")
    if site is not None and not is_bot(user_agent) and not _opted_out(request, site):
        page = params.get("u") or request.META.get("HTTP_REFERER", "")
        host = urlsplit(page).hostname or ""
        try:
            anon_id = valid_anon_id(params.get("v") or _anon_from_ip(request, user_agent))
            if origin_allowed(site, host):
                event = normalize_browser_event(
                    {"type": "page_view", "url": page, "title": params.get("t", ""),
                     "referrer": params.get("r", "")},
                    site=site, anon_id=anon_id, user_agent=user_agent, ip=_client_ip(request),
                    now=timezone.now(),
                )  # fmt: skip
                store([event])
        except (IntakeError, ValueError):
            pass
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store, max-age=0"
    return response


def _anon_from_ip(request: HttpRequest, user_agent: str) -> str:
    """No cookie and no id: a daily hash of network and browser stands in."""
    import hashlib

    seed = f"{_client_ip(request)}|{user_agent}|{timezone.now():%Y-%m-%d}"
    return "px-" + hashlib.sha256(seed.encode()).hexdigest()[:32]
