"""Reads of scoring: why a lead has its score, its history, the events behind it."""

from __future__ import annotations

import datetime
import zoneinfo

from django.conf import settings
from django.db import connection
from django.utils import timezone

from leads.models import Lead
from scoring.models import FitRule, ScoreRule, ScoreSnapshot, ScoringSettings, TagAdjustment
from scoring.services import day_points, like_pattern, raw_day_points, score_window

#: Days of score history served with a lead's score (trend chart).
HISTORY_DAYS = 90
#: Events listed behind one ledger day (a day is capped, its events need not be).
DAY_EVENTS_SHOWN = 50


def lead_explanation(lead: Lead, now: datetime.datetime | None = None) -> dict:
    """The score's parts: behaviour by rule (capped per day) with the date each
    ledger day leaves the window, fit rules matched, tag adjustments. The parts
    add up to the score ``score_leads`` stores."""
    now = now or timezone.now()
    win = score_window(now)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT r.id, r.name, d.day, {day_points()}, {raw_day_points()}, d.events,
                   d.first_at, d.last_at
            FROM scoring_scoreday d JOIN scoring_scorerule r ON r.id = d.rule_id AND r.is_active
            WHERE d.lead_id = %s AND d.day >= %s AND d.day <= %s
            ORDER BY r.id, d.day
            """,  # noqa: S608 - fixed fragments
            [lead.pk, win.first_day, win.today],
        )
        rows = cursor.fetchall()
    rules: dict[int, dict] = {}
    for rule_id, name, day, points, raw, count, first, last in rows:
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
        entry["points"] += points
        entry["events"] += count
        entry["capped_days"] += int(points != raw)
        entry["leaves_window"].append(
            {
                "day": day.isoformat(),
                "points": points,
                "events": count,
                "leaves_at": win.leaves_on(day).isoformat(),
                "first_at": timezone.localtime(first).isoformat(),
                "last_at": timezone.localtime(last).isoformat(),
            }
        )
    behaviour = sum(r["points"] for r in rules.values())
    fit = []
    active_fit = list(FitRule.objects.filter(is_active=True))
    if active_fit:
        from leads.segments import CompileContext, get_block

        attribute = get_block("attribute")
        context = CompileContext(now=now)
        for rule in active_fit:
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
        "window_days": win.days,
        "window_from": win.first_day.isoformat(),
        "behaviour": {"points": behaviour, "rules": list(rules.values())},
        "fit": {"points": sum(f["points"] for f in fit), "rules": fit},
        "tags": {"points": sum(t["points"] for t in tags), "adjustments": tags},
        "computed_at": timezone.localtime(now).isoformat(),
    }


def lead_score_history(
    lead: Lead, *, days: int = HISTORY_DAYS, now: datetime.datetime | None = None
) -> list[dict]:
    """One point per day for the last ``days`` days, oldest first, from the daily
    snapshots (a day without a snapshot had score 0)."""
    today = score_window(now).today
    first = today - datetime.timedelta(days=days - 1)
    stored = {
        s.day: s
        for s in ScoreSnapshot.objects.filter(lead_id=lead.pk, day__gte=first, day__lte=today)
    }
    row = ScoringSettings.current()
    zero_rank = "HOT" if row.hot_min <= 0 else "WARM" if row.warm_min <= 0 else "COLD"
    history = []
    for offset in range(days):
        day = first + datetime.timedelta(days=offset)
        snapshot = stored.get(day)
        history.append(
            {
                "day": day.isoformat(),
                "score": snapshot.score if snapshot else 0,
                "rank": snapshot.rank if snapshot else zero_rank,
            }
        )
    return history


def score_day_events(*, lead: Lead, rule: ScoreRule, day: datetime.date) -> list[dict]:
    """The events behind one ledger day (lead, rule, local day): the same match
    as the ledger, through the (lead_id, type, occurred_at) index."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT e.event_uid, e.occurred_at, e.type, e.url, e.title
            FROM tracking_event e
            WHERE e.lead_id = %s AND e.type = %s
              AND e.occurred_at >= %s AND e.occurred_at < %s
              AND (%s = '' OR e.url LIKE %s)
              AND (%s = '' OR e.properties->>'form' = %s)
            ORDER BY e.occurred_at LIMIT %s
            """,
            [
                lead.pk,
                rule.event_type,
                start,
                start + datetime.timedelta(days=1),
                rule.url_like or like_pattern(rule.url_pattern),
                rule.url_like or like_pattern(rule.url_pattern),
                rule.form_key,
                rule.form_key,
                DAY_EVENTS_SHOWN,
            ],
        )
        return [
            {
                "event_uid": str(uid),
                "occurred_at": timezone.localtime(at).isoformat(),
                "type": kind,
                "url": url,
                "title": title,
            }
            for uid, at, kind, url, title in cursor.fetchall()
        ]
