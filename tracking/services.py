"""Writes of tracking: identification (実名化) and attribution."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import Lead
from tracking.models import Identification, Visit, Visitor
from tracking.signals import visitor_identified


@transaction.atomic
def visitor_identify(*, visitor: Visitor, lead: Lead, method: str) -> Identification:
    """Tie this browser to ``lead`` from now on, and give the lead the
    browser's earlier anonymous events and visits in one set-based update.

    Events already attributed to another lead stay that lead's: two known
    leads are never merged automatically. A browser that identifies as a
    different lead starts a new association (the visitor now points at the
    new lead; the old lead keeps what it had).
    """
    visitor = Visitor.objects.select_for_update().get(pk=visitor.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tracking_event SET lead_id = %s WHERE visitor_id = %s AND lead_id IS NULL",
            [lead.pk, visitor.pk],
        )
        attributed = cursor.rowcount
    Visit.objects.filter(visitor=visitor, lead__isnull=True).update(lead=lead)
    if visitor.lead_id != lead.pk:
        visitor.lead = lead
        visitor.save(update_fields=["lead"])
    _attribute_touches(lead, visitor)
    identification = Identification.objects.create(
        visitor=visitor, lead=lead, method=method, events_attributed=attributed
    )
    transaction.on_commit(
        lambda: visitor_identified.send(
            sender=Visitor,
            visitor_id=visitor.pk,
            lead_id=lead.pk,
            method=method,
            events_attributed=attributed,
        )
    )
    return identification


def _touch_label(touch: dict) -> str:
    parts = [touch.get("utm_source"), touch.get("utm_medium"), touch.get("utm_campaign")]
    label = " / ".join(p for p in parts if p)
    return (label or touch.get("referrer") or "")[:200]


def _attribute_touches(lead: Lead, visitor: Visitor) -> None:
    """First touch: the earliest visit's source; last touch: the latest one's."""
    visits = Visit.objects.filter(lead=lead).order_by("started_at")
    first = visits.first()
    last = visits.last()
    updates = {}
    if first is not None and not lead.first_touch_source:
        updates["first_touch_source"] = _touch_label(first.utm | {"referrer": first.referrer})
    if last is not None:
        updates["last_touch_source"] = _touch_label(last.utm | {"referrer": last.referrer})
    updates = {k: v for k, v in updates.items() if v}
    if updates:
        Lead.objects.filter(pk=lead.pk).update(updated_at=timezone.now(), **updates)


def check_site_domains(domains: list[str]) -> list[str]:
    """Host names a site's snippet may send from, as typed by a marketer
    ("https://www.example.co.jp/" → "www.example.co.jp")."""
    cleaned = []
    for raw in domains:
        domain = str(raw).strip().lower().removeprefix("https://").removeprefix("http://")
        domain = domain.split("/")[0]
        if not domain or " " in domain or ("." not in domain and domain != "localhost"):
            raise ValidationError(
                {"domains": [_("“%(d)s” is not a host name like www.example.co.jp.") % {"d": raw}]}
            )
        if domain not in cleaned:
            cleaned.append(domain)
    return cleaned
