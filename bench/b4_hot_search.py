"""B4: the seed-004 HOT search (page views ≥ 15 in 30 days AND form ≥ 1 AND NOT
any activity, plus has email, not a competitor, nurture target), counted.

Figure: Kizuki's compiled segment count (warm: median of runs after the first).
Baseline: a hand-written EXISTS / anti-join query for the same search, same run.
"""

from __future__ import annotations

import time

from django.db import connection

from bench.dataset import generate
from bench.harness import Figure

HAND_WRITTEN = """
SELECT count(*) FROM leads_lead l
WHERE l.email <> '' AND NOT l.is_competitor AND l.is_nurture_target
  AND EXISTS (SELECT 1 FROM tracking_event e WHERE e.lead_id = l.id AND e.type = 'page_view'
              AND e.occurred_at >= %(now)s - interval '30 days' OFFSET 14 LIMIT 1)
  AND EXISTS (SELECT 1 FROM tracking_event e WHERE e.lead_id = l.id AND e.type = 'form_submit')
  AND NOT EXISTS (SELECT 1 FROM leads_activity a WHERE a.lead_id = l.id)
"""


def _timed(fn, repeats: int) -> tuple[float, float, object]:
    started = time.perf_counter()
    result = fn()
    first = time.perf_counter() - started
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    samples.sort()
    return first, samples[len(samples) // 2], result


def run(size: dict) -> list[Figure]:
    from django.utils import timezone

    from leads.models import Segment
    from leads.segments import CompileContext, install_presets, segment_leads

    leads, events = size["leads"], size["events"]
    generate(leads=leads, events=events)
    install_presets()
    preset = Segment.objects.get(preset_key="hot_leads")

    # One instant for both, or events crossing the 30-day edge between the two
    # queries (a few a second at full size) would make the counts differ.
    now = timezone.now()

    def ours():
        context = CompileContext(now=now)
        return segment_leads(preset.expression, preset.blocks, context=context).count()

    def hand():
        with connection.cursor() as cursor:
            cursor.execute(HAND_WRITTEN, {"now": now})
            return cursor.fetchone()[0]

    repeats = size["repeats"]
    first_hand, warm_hand, hand_count = _timed(hand, repeats)
    first_ours, warm_ours, our_count = _timed(ours, repeats)
    if our_count != hand_count:
        raise RuntimeError(f"HOT search disagrees: Kizuki {our_count}, hand-written {hand_count}")
    return [
        Figure(
            bench_id="B4",
            workload=f"seed-004 HOT search count over {leads} leads / {events} events "
            f"({our_count} members; first run {first_ours * 1000:.0f} ms vs "
            f"{first_hand * 1000:.0f} ms)",
            figure="warm count, median",
            unit="ms",
            value=warm_ours * 1000,
            baseline="hand-written EXISTS / anti-join SQL",
            baseline_value=warm_hand * 1000,
        )
    ]
