"""sfa_sync's entries on the lead timeline: every push out and every deal status in."""

from __future__ import annotations

from django.utils.translation import gettext as _

from leads.timeline import TimelineEntry, register_timeline_source
from sfa_sync.models import InboundUpdate, OutboxItem, OutboxKind, OutboxState


def pushes(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    rows = OutboxItem.objects.filter(lead_id=lead_id, finished_at__isnull=False)
    if before is not None:
        rows = rows.filter(finished_at__lt=before)
    entries = []
    for row in rows.select_related("connector").order_by("-finished_at")[:limit]:
        values = {"connector": row.connector.name}
        if row.state == OutboxState.SENT:
            title = (
                _("Handed over to %(connector)s")
                if row.kind == OutboxKind.HANDOFF
                else _("Synced to %(connector)s")
            ) % values
            detail = ""
        else:
            title = _("Sending to %(connector)s failed") % values
            detail = row.last_error
        entries.append(
            TimelineEntry(
                occurred_at=row.finished_at,
                kind=f"sfa_{row.kind}_{row.state}",
                title=title,
                detail=detail,
                icon="sfa sfa-out" if row.state == OutboxState.SENT else "sfa sfa-failed",
            )
        )
    return entries


def deal_updates(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    rows = InboundUpdate.objects.filter(lead_id=lead_id)
    if before is not None:
        rows = rows.filter(received_at__lt=before)
    return [
        TimelineEntry(
            occurred_at=row.received_at,
            kind=f"sfa_deal_{row.status}",
            title=_("Deal %(status)s in %(connector)s")
            % {
                "status": row.get_status_display(),
                "connector": row.connector.name if row.connector else _("Kizuki deals"),
            },
            detail=" · ".join(p for p in (row.external_value, row.reason) if p),
            icon="sfa sfa-in",
        )
        for row in rows.select_related("connector").order_by("-received_at")[:limit]
    ]


def register() -> None:
    register_timeline_source("sfa_sync.pushes", pushes)
    register_timeline_source("sfa_sync.deal_updates", deal_updates)
