"""Tracking's entries on the lead timeline: web events and identifications."""

from __future__ import annotations

from django.utils.translation import gettext as _

from leads.timeline import TimelineEntry, register_timeline_source
from tracking.models import Event, EventType, Identification

TITLES = {
    EventType.PAGE_VIEW: ("web", lambda e: e.title or e.url),
    EventType.FORM_SUBMIT: ("form", lambda e: _("Submitted “%(form)s”") % {"form": e.title}),
    EventType.DOWNLOAD: (
        "download",
        lambda e: _("Downloaded %(what)s") % {"what": e.title or e.url},
    ),
    EventType.EMAIL_OPEN: ("mail", lambda e: _("Opened “%(mail)s”") % {"mail": e.title}),
    EventType.EMAIL_CLICK: ("mail", lambda e: _("Clicked in “%(mail)s”") % {"mail": e.title}),
    EventType.DOUBLE_OPT_IN_CONFIRMED: (
        "consent",
        lambda e: (
            _("Confirmed their email address (double opt-in, “%(form)s”)") % {"form": e.title}
        ),
    ),
    EventType.RETURNED_AFTER_ABSENCE: (
        "return",
        lambda e: _("Came back after %(days)s days") % {"days": e.properties.get("gap_days")},
    ),
}


def web_events(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    rows = Event.objects.filter(lead_id=lead_id)
    if before is not None:
        rows = rows.filter(occurred_at__lt=before)
    entries = []
    for event in rows.order_by("-occurred_at")[:limit]:
        icon, title = TITLES.get(event.type, ("web", lambda e: e.type))
        entries.append(
            TimelineEntry(
                occurred_at=event.occurred_at,
                kind=event.type,
                title=str(title(event))[:300],
                detail=event.url if event.type != EventType.PAGE_VIEW else "",
                icon=icon,
            )
        )
    return entries


def identifications(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    rows = Identification.objects.filter(lead_id=lead_id)
    if before is not None:
        rows = rows.filter(identified_at__lt=before)
    return [
        TimelineEntry(
            occurred_at=row.identified_at,
            kind="identified",
            title=_("Browser identified (%(method)s); %(n)d earlier events joined")
            % {"method": row.get_method_display(), "n": row.events_attributed},
            icon="identify",
        )
        for row in rows.order_by("-identified_at")[:limit]
    ]


def register() -> None:
    register_timeline_source("tracking.events", web_events)
    register_timeline_source("tracking.identifications", identifications)
