"""Scoring writes: rules, the ledger, and score/rank recomputation — all
set-based SQL over sets of leads, never a Python loop per lead."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, IntegerField, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import Lead
from scoring.models import FitRule, RankChange, ScoreRule, ScoringSettings
from scoring.signals import rank_changed
from tracking.models import EventType


def like_pattern(pattern: str) -> str:
    """ "/pricing" → "%/pricing%"; "*/case/*" → "%/case/%" (LIKE, escaped)."""
    if not pattern:
        return ""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = escaped.replace("*", "%")
    return like if "*" in pattern else f"%{like}%"


def check_score_rule(*, event_type: str, url_pattern: str = "", points: int, daily_cap=None):
    errors = {}
    if event_type not in EventType.values:
        errors["event_type"] = [
            _("Unknown event type. Use one of: %(types)s.") % {"types": ", ".join(EventType.values)}
        ]
    if url_pattern and (len(url_pattern) > 500 or any(c in url_pattern for c in "\n\r\t")):
        errors["url_pattern"] = [_("A URL pattern is one line of at most 500 characters.")]
    if url_pattern and url_pattern.strip("*") == "":
        errors["url_pattern"] = [_("The pattern matches every URL; leave it empty instead.")]
    if daily_cap is not None and daily_cap <= 0:
        errors["daily_cap"] = [_("A cap is a positive number of points.")]
    if points == 0:
        errors["points"] = [_("A rule worth 0 points changes nothing.")]
    if errors:
        raise ValidationError(errors)


def score_rule_saved(rule: ScoreRule) -> None:
    """Keep the LIKE form current and rescore everyone in the background."""
    ScoreRule.objects.filter(pk=rule.pk).update(url_like=like_pattern(rule.url_pattern))
    rescore_in_background(reason=f"rule {rule.pk} changed", rule_ids=[rule.pk])


def rescore_in_background(*, reason: str, rule_ids: list[int] | None = None):
    from scoring.models import RescoreJob
    from scoring.tasks import rescore_all

    job = RescoreJob.objects.create(reason=reason)
    transaction.on_commit(lambda: rescore_all.delay(job.pk, rule_ids))
    return job


def window(now: datetime.datetime | None = None) -> tuple[datetime.datetime, datetime.datetime]:
    now = now or timezone.now()
    return now - datetime.timedelta(days=ScoringSettings.current().window_days), now


def ledger_from_events(
    *,
    lead_ids: Iterable[int] | None = None,
    rule_ids: Iterable[int] | None = None,
    now: datetime.datetime | None = None,
) -> int:
    """Write ledger entries for events inside the window that rules match.
    Idempotent (one entry per rule and event). Returns entries added."""
    since, now = window(now)
    scope, params = "", {"since": since, "now": now}
    if lead_ids is not None:
        scope += " AND e.lead_id = ANY(%(leads)s)"
        params["leads"] = list(lead_ids)
    if rule_ids is not None:
        scope += " AND r.id = ANY(%(rules)s)"
        params["rules"] = list(rule_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO scoring_scoreentry (lead_id, rule_id, event_uid, points, occurred_at)
            SELECT e.lead_id, r.id, e.event_uid, r.points, e.occurred_at
            FROM tracking_event e
            JOIN leads_lead l ON l.id = e.lead_id
            JOIN scoring_scorerule r
              ON r.is_active AND r.event_type = e.type
             AND (r.url_like = '' OR e.url LIKE r.url_like)
             AND (r.form_key = '' OR e.properties->>'form' = r.form_key)
            WHERE e.lead_id IS NOT NULL AND e.occurred_at > %(since)s
              AND e.occurred_at <= %(now)s {scope}
            ON CONFLICT (rule_id, event_uid) DO NOTHING
            """,  # noqa: S608 - scope is built from fixed fragments; values are parameters
            params,
        )
        return cursor.rowcount


def rule_ledger_rebuild(rule_ids: list[int]) -> None:
    """A rule changed: its entries are recomputed from events (points may differ)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM scoring_scoreentry WHERE rule_id = ANY(%s)", [rule_ids])
    ledger_from_events(rule_ids=rule_ids)


def _fit_sql(lead_ids: list[int] | None) -> tuple[str, list]:
    """SELECT id AS lead_id, fit FROM leads_lead … : fit points from FitRules."""
    from leads.segments import CompileContext, get_block

    attribute = get_block("attribute")
    context = CompileContext()
    whens = []
    for rule in FitRule.objects.filter(is_active=True):
        params = attribute.validate(dict(rule.condition))
        condition = attribute.compile(params, context)
        whens.append(Case(When(condition, then=Value(rule.points)), default=Value(0)))
    queryset = Lead.objects.all()
    if lead_ids is not None:
        queryset = queryset.filter(pk__in=lead_ids)
    total = Value(0)
    for case in whens:
        total = total + case
    queryset = queryset.annotate(fit=Coalesce(total, Value(0), output_field=IntegerField())).values(
        "id", "fit"
    )
    sql, params = queryset.query.sql_with_params()
    return sql, list(params)


def score_leads(
    lead_ids: Iterable[int] | None = None, *, now: datetime.datetime | None = None
) -> dict:
    """Recompute score and rank of these leads (None: every lead) in one
    statement; record rank changes. Returns {"changed", "rank_changes"}."""
    row = ScoringSettings.current()
    since, now = window(now)
    ids = None if lead_ids is None else list(lead_ids)
    fit_sql, fit_params = _fit_sql(ids)
    scope = "SELECT id FROM leads_lead" + ("" if ids is None else " WHERE id = ANY(%s)")  # noqa: S608
    scope_params = [] if ids is None else [ids]
    sql = f"""
        WITH scope AS ({scope}),
        daily AS (
            SELECT e.lead_id, e.rule_id,
                   CASE WHEN r.daily_cap IS NULL THEN SUM(e.points)
                        ELSE LEAST(SUM(e.points), r.daily_cap) END AS points
            FROM scoring_scoreentry e JOIN scoring_scorerule r ON r.id = e.rule_id
            WHERE e.occurred_at > %s AND e.occurred_at <= %s
              AND e.lead_id IN (SELECT id FROM scope)
            GROUP BY e.lead_id, e.rule_id, r.daily_cap, (e.occurred_at AT TIME ZONE %s)::date
        ),
        behaviour AS (SELECT lead_id, SUM(points) AS points FROM daily GROUP BY lead_id),
        tags AS (
            SELECT lt.lead_id, SUM(ta.points) AS points
            FROM leads_leadtag lt JOIN scoring_tagadjustment ta ON ta.tag_id = lt.tag_id
            WHERE lt.lead_id IN (SELECT id FROM scope) GROUP BY lt.lead_id
        ),
        fit AS ({fit_sql}),
        ranked AS (
            SELECT s.id, t.total AS score,
                   CASE WHEN t.total >= %s THEN 'HOT' WHEN t.total >= %s THEN 'WARM'
                        ELSE 'COLD' END AS rank
            FROM scope s
            LEFT JOIN behaviour b ON b.lead_id = s.id
            LEFT JOIN tags tg ON tg.lead_id = s.id
            LEFT JOIN fit f ON f.id = s.id
            CROSS JOIN LATERAL (
                SELECT (COALESCE(b.points, 0) + COALESCE(tg.points, 0) + COALESCE(f.fit, 0))::int
                AS total
            ) t
        ),
        changed AS (
            UPDATE leads_lead l SET score = r.score, rank = r.rank
            FROM ranked r, leads_lead old
            WHERE l.id = r.id AND old.id = r.id AND (l.score <> r.score OR l.rank <> r.rank)
            RETURNING l.id, old.rank AS old_rank, r.rank AS new_rank, r.score
        ),
        moved AS (
            INSERT INTO scoring_rankchange (lead_id, old_rank, new_rank, score, changed_at)
            SELECT id, old_rank, new_rank, score, %s FROM changed WHERE old_rank <> new_rank
            RETURNING lead_id, old_rank, new_rank
        )
        SELECT (SELECT count(*) FROM changed), lead_id, old_rank, new_rank FROM moved
        UNION ALL SELECT (SELECT count(*) FROM changed), NULL, NULL, NULL
    """  # noqa: S608 - fixed fragments; every value is a parameter
    params = [
        *scope_params, since, now, settings.TIME_ZONE, *fit_params,
        row.hot_min, row.warm_min, now,
    ]  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    changes = [(lead, old, new) for _count, lead, old, new in rows if lead is not None]
    changed = rows[0][0] if rows else 0
    if changes:
        transaction.on_commit(lambda: rank_changed.send(sender=RankChange, changes=changes))
    return {"changed": changed, "rank_changes": changes}


def score_after_events(lead_ids: Iterable[int]) -> dict:
    """Incremental: new events of these leads → ledger → their scores."""
    ids = list(lead_ids)
    ledger_from_events(lead_ids=ids)
    return score_leads(ids)
