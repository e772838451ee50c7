"""B3: scoring over the event data.

Figures:
(1) every lead rescored after a rule's points change, as the background job
    of a rule change runs it: the ledger holds event counts, so nothing is
    recounted, and every lead's score and rank are recomputed;
(2) the same after a rule's URL pattern change: that rule's ledger rows are
    recounted from events, then every score and rank;
(3) ``manage.py recompute_scores``: the whole ledger recounted from events,
    then every score and rank;
(4) an incremental batch of 10,000 new events: the ledger days and scores of
    the leads they touch, over the whole window.
Baselines, same run: one hand-written GROUP BY over the same window that only
computes the sums (over all leads; over the touched leads).
"""

from __future__ import annotations

import datetime
import statistics
import time

from django.db import connection

from bench.dataset import generate
from bench.harness import Figure

INCREMENTAL_EVENTS = 10_000

HAND_WRITTEN = """
SELECT e.lead_id, SUM(r.points)
FROM tracking_event e JOIN scoring_scorerule r ON r.event_type = e.type AND r.is_active
WHERE e.lead_id IS NOT NULL AND e.occurred_at > now() - interval '90 days' {scope}
GROUP BY e.lead_id
"""


def _seconds(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _hand(scope: str = "", params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(HAND_WRITTEN.format(scope=scope), list(params))
        cursor.fetchall()


def run(size: dict) -> list[Figure]:
    from scoring.models import ScoreRule, ScoringSettings
    from scoring.services import like_pattern, score_after_events, scores_recompute

    leads, events = size["leads"], size["events"]
    generate(leads=leads, events=events)
    ScoreRule.objects.all().delete()
    if not ScoringSettings.objects.exists():
        ScoringSettings.objects.create()
    rules = [
        ScoreRule.objects.create(name="閲覧", event_type="page_view", points=2, daily_cap=10),
        ScoreRule.objects.create(name="フォーム", event_type="form_submit", points=30),
    ]
    scores_recompute()  # every lead scored once, as before a rule change
    # Each rescore is timed with the hand-written GROUP BY after it; medians.
    # Once at full size, where a rescore takes about a minute.
    repeats = 1 if size["name"] == "full" else 3
    points_runs, pattern_runs, recount_runs, hand_runs = [], [], [], []
    for i in range(repeats):
        # The view rule's points go 3, 2, 3 …
        ScoreRule.objects.filter(pk=rules[0].pk).update(points=3 if i % 2 == 0 else 2)
        points_runs.append(_seconds(lambda: scores_recompute(recount_all=False)))
        hand_runs.append(_seconds(_hand))
        # The form rule counts forms on pages 1… only, then every page again.
        pattern = "*/p/1*" if i % 2 == 0 else ""
        ScoreRule.objects.filter(pk=rules[1].pk).update(
            url_pattern=pattern, url_like=like_pattern(pattern)
        )
        pattern_runs.append(_seconds(lambda: scores_recompute(recount_all=False)))
        hand_runs.append(_seconds(_hand))
        recount_runs.append(_seconds(scores_recompute))
        hand_runs.append(_seconds(_hand))

    # As the writer's signal does: recompute ledger days from the batch's earliest day.
    from django.utils import timezone

    incremental_runs, hand_incremental_runs, touched = [], [], []
    for _ in range(repeats):
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO tracking_event (event_uid, occurred_at, type, lead_id, url, title,
                                            properties)
                SELECT gen_random_uuid(), now() - random() * interval '1 hour', 'page_view',
                       1 + floor(%s * random())::bigint, 'https://bench.example/new', '', '{}'
                FROM generate_series(1, %s)
                RETURNING lead_id
                """,
                [leads, INCREMENTAL_EVENTS],
            )
            touched = sorted({row[0] for row in cursor.fetchall()})
        since = timezone.localdate(timezone.now() - datetime.timedelta(hours=1))
        incremental_runs.append(_seconds(lambda: score_after_events(touched, since=since)))  # noqa: B023
        hand_incremental_runs.append(
            _seconds(lambda: _hand("AND e.lead_id = ANY(%s)", [touched]))  # noqa: B023
        )
    hand_full_s = statistics.median(hand_runs)
    incremental_s = statistics.median(incremental_runs)
    hand_incremental_s = statistics.median(hand_incremental_runs)
    scale = f"{leads} leads / {events} events"

    def rescore(workload: str, runs: list[float]) -> Figure:
        return Figure(
            bench_id="B3",
            workload=f"{workload}, {scale} (median of {repeats})",
            figure="seconds",
            unit="s",
            value=statistics.median(runs),
            samples=runs,
            baseline_samples=hand_runs,
            baseline="hand-written GROUP BY over the same window (sums only)",
            baseline_value=hand_full_s,
        )

    return [
        rescore(
            "full 90-day rescore after a rule's points change (ledger counts kept; every "
            "score and rank)",
            points_runs,
        ),
        rescore(
            "full rescore after a rule's URL pattern change (its ledger rows recounted from "
            "events; every score and rank)",
            pattern_runs,
        ),
        rescore(
            "recompute_scores (the whole ledger recounted from events; every score and rank)",
            recount_runs,
        ),
        Figure(
            bench_id="B3",
            workload=f"incremental: {INCREMENTAL_EVENTS} new events, {len(touched)} leads "
            f"(median of {repeats})",
            figure="seconds",
            unit="s",
            value=incremental_s,
            samples=incremental_runs,
            baseline_samples=hand_incremental_runs,
            baseline="hand-written GROUP BY over those leads",
            baseline_value=hand_incremental_s,
        ),
    ]
