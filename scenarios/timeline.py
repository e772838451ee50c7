"""Scenarios' entries on the lead timeline: mails sent (unsubscriptions and
bounce suppressions are suppressions, which ``leads`` shows already)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from leads.timeline import TimelineEntry, register_timeline_source
from scenarios.models import Bounce, Send


def mails_sent(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    rows = Send.objects.filter(lead_id=lead_id, state=Send.State.SENT)
    if before is not None:
        rows = rows.filter(sent_at__lt=before)
    return [
        TimelineEntry(
            occurred_at=row.sent_at,
            kind="mail_sent",
            title=_("Mail sent: “%(subject)s”") % {"subject": row.subject},
            detail=row.source_key,
            icon="mail",
        )
        for row in rows.order_by("-sent_at")[:limit]
    ]


def bounces(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    rows = Bounce.objects.filter(lead_id=lead_id)
    if before is not None:
        rows = rows.filter(occurred_at__lt=before)
    return [
        TimelineEntry(
            occurred_at=row.occurred_at,
            kind="mail_bounce",
            title=_("%(kind)s from %(email)s")
            % {"kind": row.get_kind_display(), "email": row.email},
            detail=row.detail,
            icon="suppression",
        )
        for row in rows.order_by("-occurred_at")[:limit]
    ]


def register() -> None:
    register_timeline_source("scenarios.mails_sent", mails_sent)
    register_timeline_source("scenarios.bounces", bounces)
