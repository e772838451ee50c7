"""Writes of tracking: identification (実名化) and attribution."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import connection, transaction
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


#: A visit's source as stored on the lead: "source / medium / campaign", else the referrer.
_TOUCH_LABEL_SQL = """
    left(coalesce(nullif(concat_ws(' / ', nullif(v.utm->>'utm_source', ''),
                                          nullif(v.utm->>'utm_medium', ''),
                                          nullif(v.utm->>'utm_campaign', '')), ''),
                  v.referrer), 200)
"""


def lead_touches_refresh(lead_ids: list[int]) -> int:
    """First touch (the earliest visit that came from somewhere: UTM or
    referrer) is set once; last touch follows the latest such visit, so a
    direct visit keeps the campaign that brought the lead last. One statement
    per kind for all the leads. Returns how many leads changed."""
    if not lead_ids:
        return 0
    changed = 0
    with connection.cursor() as cursor:
        for column, order, only_empty in (
            ("first_touch_source", "ASC", True),
            ("last_touch_source", "DESC", False),
        ):
            cursor.execute(
                f"""
                UPDATE leads_lead l SET {column} = t.label, updated_at = now()
                FROM (
                    SELECT DISTINCT ON (v.lead_id) v.lead_id, {_TOUCH_LABEL_SQL} AS label
                    FROM tracking_visit v
                    WHERE v.lead_id = ANY(%s) AND (v.utm <> '{{}}'::jsonb OR v.referrer <> '')
                    ORDER BY v.lead_id, v.started_at {order}
                ) t
                WHERE l.id = t.lead_id AND t.label <> ''
                  AND l.{column} IS DISTINCT FROM t.label
                  {"AND l." + column + " = ''" if only_empty else ""}
                """,  # noqa: S608 - column and order are constants above
                [list(lead_ids)],
            )
            changed += cursor.rowcount
    return changed


def _attribute_touches(lead: Lead, visitor: Visitor) -> None:
    lead_touches_refresh([lead.pk])


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
