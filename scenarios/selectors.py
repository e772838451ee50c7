"""Reads of scenarios: per-newsletter counts and mail stats."""

from __future__ import annotations

from django.db import connection
from django.db.models import Count, Q

from scenarios.models import Newsletter, Send


def newsletter_counts(newsletter: Newsletter) -> dict[str, int]:
    """Sends by state, plus deferred (waiting with a reason), unique opens and clicks."""
    rows = Send.objects.filter(newsletter=newsletter).aggregate(
        total=Count("id"),
        pending=Count("id", filter=Q(state=Send.State.PENDING)),
        deferred=Count("id", filter=Q(state=Send.State.PENDING) & ~Q(reason="")),
        sending=Count("id", filter=Q(state=Send.State.CLAIMED)),
        sent=Count("id", filter=Q(state=Send.State.SENT)),
        skipped=Count("id", filter=Q(state=Send.State.SKIPPED)),
        failed=Count("id", filter=Q(state=Send.State.FAILED)),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(DISTINCT lead_id) FILTER (WHERE type = 'email_open'),
                   count(DISTINCT lead_id) FILTER (WHERE type = 'email_click')
              FROM tracking_event
             WHERE type IN ('email_open', 'email_click')
               AND properties->>'newsletter' = %s
            """,
            [str(newsletter.pk)],
        )
        opens, clicks = cursor.fetchone()
    rows["unique_opens"] = opens or 0
    rows["unique_clicks"] = clicks or 0
    done = rows["sent"] + rows["skipped"] + rows["failed"]
    rows["percent"] = round(100 * done / rows["total"]) if rows["total"] else 0
    return rows


def newsletter_skip_reasons(newsletter: Newsletter) -> list[tuple[str, int]]:
    return list(
        Send.objects.filter(newsletter=newsletter)
        .exclude(reason="")
        .values_list("reason")
        .annotate(n=Count("id"))
        .order_by("-n")
    )


def newsletter_link_clicks(newsletter: Newsletter) -> list[tuple[str, int, int]]:
    """Clicks per link of a newsletter: ``[(url, clicks, unique leads)]``, most first."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT url, count(*), count(DISTINCT lead_id)
              FROM tracking_event
             WHERE type = 'email_click' AND properties->>'newsletter' = %s
             GROUP BY url
             ORDER BY count(*) DESC, url
            """,
            [str(newsletter.pk)],
        )
        return [(url, clicks, leads) for url, clicks, leads in cursor.fetchall()]


# -- stats per template, scenario step, scenario and newsletter -------------------------------

#: What a send is grouped by for each kind of stats.
_GROUPS = {
    "template": ("s.template_id", ""),
    "newsletter": ("s.newsletter_id", ""),
    "step": ("s.scenario_step_id", ""),
    "scenario": ("st.scenario_id",
                 "JOIN scenarios_scenariostep st ON st.id = s.scenario_step_id"),
}  # fmt: skip
STAT_KEYS = (
    "sent", "delivered", "unique_opens", "unique_clicks", "click_rate", "unsubscribes", "bounces",
)  # fmt: skip


def _sends_sql(by: str) -> str:
    group, join = _GROUPS[by]
    return f"""SELECT s.id, s.lead_id, s.sent_at, {group} AS g
                 FROM scenarios_send s {join}
                WHERE s.state = 'sent' AND {group} IS NOT NULL
                  AND (%(ids)s::bigint[] IS NULL OR {group} = ANY(%(ids)s::bigint[]))"""  # noqa: S608


def mail_stats(*, by: str, ids: list[int] | None = None) -> dict[int, dict]:
    """Stats of sent mail grouped ``by`` "template", "step", "scenario" or
    "newsletter" (all groups, or ``ids``), in a few set-based statements:

    - sent: sends handed to the mail server; bounces: bounces and complaints,
      each charged to the lead's latest mail sent before it; delivered =
      sent − bounces;
    - unique opens / clicks: mails opened / clicked at least once (the open
      pixel and tracked links name their send); click rate = unique clicks /
      delivered;
    - unsubscribes: unsubscriptions, each charged to the lead's latest mail
      before it (the mail whose footer or header was used).
    """
    if by not in _GROUPS:
        raise ValueError(by)
    params = {"ids": list(ids) if ids is not None else None}
    sends = _sends_sql(by)
    stats: dict[int, dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT g, count(*) FROM ({sends}) AS x GROUP BY g", params)  # noqa: S608
        for group, sent in cursor.fetchall():
            stats[group] = dict.fromkeys(STAT_KEYS, 0) | {"sent": sent}
        cursor.execute(
            f"""
            WITH sends AS ({sends})
            SELECT sends.g,
                   count(DISTINCT sends.id) FILTER (WHERE e.type = 'email_open'),
                   count(DISTINCT sends.id) FILTER (WHERE e.type = 'email_click')
              FROM tracking_event e
              JOIN sends ON sends.id = (e.properties->>'send')::bigint
                        AND sends.lead_id = e.lead_id
             WHERE e.type IN ('email_open', 'email_click') AND e.properties ? 'send'
             GROUP BY sends.g
            """,  # noqa: S608 - only our own SQL fragments are formatted in
            params,
        )
        for group, opens, clicks in cursor.fetchall():
            stats[group]["unique_opens"], stats[group]["unique_clicks"] = opens, clicks
        for key, table, condition in (
            ("bounces", "scenarios_bounce", "TRUE"),
            ("unsubscribes", "leads_suppression", "x.reason = 'unsubscribe'"),
        ):
            moment = "occurred_at" if table == "scenarios_bounce" else "created_at"
            cursor.execute(
                f"""
                WITH sends AS ({sends})
                SELECT sends.g, count(*)
                  FROM {table} x
                  CROSS JOIN LATERAL (
                       SELECT s0.id FROM scenarios_send s0
                        WHERE s0.lead_id = x.lead_id AND s0.state = 'sent'
                          AND s0.sent_at <= x.{moment}
                        ORDER BY s0.sent_at DESC LIMIT 1) AS latest
                  JOIN sends ON sends.id = latest.id
                 WHERE {condition}
                 GROUP BY sends.g
                """,  # noqa: S608 - only our own SQL fragments are formatted in
                params,
            )
            for group, n in cursor.fetchall():
                stats[group][key] = n
    for row in stats.values():
        row["delivered"] = max(row["sent"] - row["bounces"], 0)
        row["click_rate"] = (
            round(row["unique_clicks"] / row["delivered"], 4) if row["delivered"] else 0.0
        )
    return stats


def mail_stats_one(*, by: str, id: int) -> dict:
    return mail_stats(by=by, ids=[id]).get(id) or dict.fromkeys(STAT_KEYS, 0)


def mail_link_clicks(*, by: str, id: int) -> list[dict]:
    """Clicks per link of one group's mails: ``[{"url", "clicks", "unique"}]``, most first."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH sends AS ({_sends_sql(by)})
            SELECT e.url, count(*), count(DISTINCT sends.id)
              FROM tracking_event e
              JOIN sends ON sends.id = (e.properties->>'send')::bigint
                        AND sends.lead_id = e.lead_id
             WHERE e.type = 'email_click' AND e.properties ? 'send'
             GROUP BY e.url ORDER BY count(*) DESC, e.url
            """,  # noqa: S608 - only our own SQL fragments are formatted in
            {"ids": [id]},
        )
        return [{"url": u, "clicks": c, "unique": n} for u, c, n in cursor.fetchall()]
