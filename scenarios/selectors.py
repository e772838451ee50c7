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
