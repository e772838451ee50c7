"""Reads of scoring: why a lead has its score."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import connection
from django.utils import timezone

from leads.models import Lead
from scoring.models import FitRule, ScoringSettings, TagAdjustment
from scoring.services import window


def lead_explanation(lead: Lead, now: datetime.datetime | None = None) -> dict:
    """The score's parts: behaviour by rule (capped per day) with the date each
    entry leaves the window, fit rules matched, tag adjustments. The parts add
    up to the score ``score_leads`` stores."""
    since, now = window(now)
    days = ScoringSettings.current().window_days
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT r.id, r.name, r.daily_cap, (e.occurred_at AT TIME ZONE %s)::date AS day,
                   SUM(e.points), COUNT(*), MIN(e.occurred_at), MAX(e.occurred_at)
            FROM scoring_scoreentry e JOIN scoring_scorerule r ON r.id = e.rule_id
            WHERE e.lead_id = %s AND e.occurred_at > %s AND e.occurred_at <= %s
            GROUP BY r.id, r.name, r.daily_cap, day ORDER BY r.id, day
            """,
            [settings.TIME_ZONE, lead.pk, since, now],
        )
        rows = cursor.fetchall()
    rules: dict[int, dict] = {}
    for rule_id, name, cap, _day, points, count, first, last in rows:
        entry = rules.setdefault(
            rule_id,
            {
                "rule": rule_id,
                "name": name,
                "points": 0,
                "events": 0,
                "capped_days": 0,
                "leaves_window": [],
            },
        )
        counted = min(points, cap) if cap is not None else points
        entry["points"] += counted
        entry["events"] += count
        entry["capped_days"] += int(counted != points)
        entry["leaves_window"].append(
            {
                "points": counted,
                "leaves_at": (last + datetime.timedelta(days=days)).isoformat(),
                "first_at": first.isoformat(),
            }
        )
    behaviour = sum(r["points"] for r in rules.values())
    fit = []
    if FitRule.objects.filter(is_active=True).exists():
        from leads.segments import CompileContext, get_block

        attribute = get_block("attribute")
        context = CompileContext(now=now)
        for rule in FitRule.objects.filter(is_active=True):
            condition = attribute.compile(attribute.validate(dict(rule.condition)), context)
            if Lead.objects.filter(pk=lead.pk).filter(condition).exists():
                fit.append({"rule": rule.pk, "name": rule.name, "points": rule.points})
    tags = [
        {"tag": adj.tag.name, "points": adj.points}
        for adj in TagAdjustment.objects.filter(tag__lead_tags__lead=lead).select_related("tag")
    ]
    total = behaviour + sum(f["points"] for f in fit) + sum(t["points"] for t in tags)
    row = ScoringSettings.current()
    rank = "HOT" if total >= row.hot_min else "WARM" if total >= row.warm_min else "COLD"
    return {
        "score": total,
        "rank": rank,
        "window_days": days,
        "behaviour": {"points": behaviour, "rules": list(rules.values())},
        "fit": {"points": sum(f["points"] for f in fit), "rules": fit},
        "tags": {"points": sum(t["points"] for t in tags), "adjustments": tags},
        "computed_at": timezone.localtime(now).isoformat(),
    }
