"""Reads for alerts: what a rep needs to call right away (seed 001).

``alert_context`` gathers, for one lead, its contact data, score and rank
with the explanation, the last page views, interests, recent forms and
email clicks, and the pages and forms most common among won leads of the
same industry. A handful of indexed queries per alert (alerts are rare:
one per lead and rule per cooldown), never a query per page view.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead, Stage
from scoring.alerts.models import Alert, AlertDelivery, AlertRule, DeliveryState
from tracking.models import Event, EventType, FormSubmission

#: Stages of a lead that bought (導入 and after).
WON_STAGES = (Stage.CUSTOMER, Stage.RETENTION, Stage.ADVOCATE)
#: How far back interests and similar customers' paths look.
INTEREST_DAYS = 90
PAGE_VIEWS_SHOWN = 10
RECENT_SHOWN = 5
SIMILAR_SHOWN = 5


@dataclass
class AlertContext:
    lead: Lead
    name: str
    company: str
    industry: str
    lead_url: str
    explanation: dict
    page_views: list[dict] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    page_groups: list[dict] = field(default_factory=list)
    forms: list[dict] = field(default_factory=list)
    email_clicks: list[dict] = field(default_factory=list)
    similar_pages: list[dict] = field(default_factory=list)
    similar_forms: list[dict] = field(default_factory=list)


def lead_page_url(lead_id: int) -> str:
    """Absolute link to the lead page in the admin (PUBLIC_URL)."""
    return settings.PUBLIC_URL + reverse("admin:leads_lead_change", args=[lead_id])


def alert_context(lead: Lead, now: datetime.datetime | None = None) -> AlertContext:
    from scoring.selectors import lead_explanation

    now = now or timezone.now()
    since = now - datetime.timedelta(days=INTEREST_DAYS)
    company = lead.company.name if lead.company_id else lead.company_name
    industry = lead.industry or (lead.company.industry if lead.company_id else "")
    context = AlertContext(
        lead=lead,
        name=lead.full_name or lead.email,
        company=company,
        industry=industry,
        lead_url=lead_page_url(lead.pk),
        explanation=lead_explanation(lead, now=now),
    )
    context.page_views = [
        {"title": e.title or e.url, "url": e.url, "at": e.occurred_at}
        for e in Event.objects.filter(
            lead_id=lead.pk, type=EventType.PAGE_VIEW, occurred_at__lte=now
        )
        .only("title", "url", "occurred_at")
        .order_by("-occurred_at")[:PAGE_VIEWS_SHOWN]
    ]
    context.tags = list(lead.lead_tags.order_by("tag__name").values_list("tag__name", flat=True))
    context.page_groups = _page_groups(lead.pk, since, now)
    context.forms = [
        {"name": s.form.name, "at": s.submitted_at}
        for s in FormSubmission.objects.filter(lead=lead)
        .select_related("form")
        .order_by("-submitted_at")[:RECENT_SHOWN]
    ]
    context.email_clicks = [
        {"title": e.title, "url": e.url, "at": e.occurred_at}
        for e in Event.objects.filter(
            lead_id=lead.pk, type=EventType.EMAIL_CLICK, occurred_at__lte=now
        )
        .only("title", "url", "occurred_at")
        .order_by("-occurred_at")[:RECENT_SHOWN]
    ]
    if industry:
        context.similar_pages = _similar_pages(industry, lead.pk, now)
        context.similar_forms = _similar_forms(industry, lead.pk)
    return context


def _page_groups(lead_id: int, since, now) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT COALESCE(NULLIF(split_part(
                       regexp_replace(url, '^[a-z]+://[^/]*|[?#].*$', '', 'g'), '/', 2), ''), '')
                   AS grp, COUNT(*) AS views
            FROM tracking_event
            WHERE lead_id = %s AND type = %s AND occurred_at > %s AND occurred_at <= %s
            GROUP BY grp ORDER BY views DESC, grp LIMIT %s
            """,
            [lead_id, EventType.PAGE_VIEW, since, now, RECENT_SHOWN],
        )
        return [{"group": f"/{grp}", "views": views} for grp, views in cursor.fetchall()]


def _won_leads_sql() -> str:
    return """
        SELECT l.id FROM leads_lead l LEFT JOIN leads_company c ON c.id = l.company_id
        WHERE l.stage = ANY(%s) AND l.id <> %s
          AND COALESCE(NULLIF(l.industry, ''), c.industry) = %s
    """


def _similar_pages(industry: str, lead_id: int, now) -> list[dict]:
    """Pages viewed by the most won leads of the industry (each lead counted
    once per page), with the title they saw last."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH won AS ({_won_leads_sql()})
            SELECT regexp_replace(e.url, '[?#].*$', '') AS page,
                   COUNT(DISTINCT e.lead_id) AS leads,
                   (array_agg(e.title ORDER BY e.occurred_at DESC))[1] AS title
            FROM tracking_event e JOIN won ON won.id = e.lead_id
            WHERE e.type = %s AND e.occurred_at <= %s
            GROUP BY page ORDER BY leads DESC, page LIMIT %s
            """,  # noqa: S608 - a fixed fragment; every value is a parameter
            [list(WON_STAGES), lead_id, industry, EventType.PAGE_VIEW, now, SIMILAR_SHOWN],
        )
        return [
            {"url": page, "title": title or page, "leads": leads}
            for page, leads, title in cursor.fetchall()
        ]


def _similar_forms(industry: str, lead_id: int) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH won AS ({_won_leads_sql()})
            SELECT f.name, COUNT(DISTINCT s.lead_id) AS leads
            FROM tracking_formsubmission s JOIN won ON won.id = s.lead_id
            JOIN tracking_form f ON f.id = s.form_id
            GROUP BY f.id, f.name ORDER BY leads DESC, f.name LIMIT %s
            """,  # noqa: S608 - a fixed fragment; every value is a parameter
            [list(WON_STAGES), lead_id, industry, SIMILAR_SHOWN],
        )
        return [{"name": name, "leads": leads} for name, leads in cursor.fetchall()]


def alert_rules_active(trigger: str) -> list[AlertRule]:
    return list(AlertRule.objects.filter(trigger=trigger, is_active=True))


def deliveries_due(now: datetime.datetime, limit: int) -> list[int]:
    return list(
        AlertDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def alerts_of_lead(lead_id: int) -> QuerySet[Alert]:
    return Alert.objects.filter(lead_id=lead_id).select_related("rule")
