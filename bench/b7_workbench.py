"""B7: the HOT list workbench with 500 members on this week's list.

Figures: p95 server time of the workbench's list JSON (all 500 members with
counts, owners, "followed" and the latest result) and of the lead panel
(contact, score explanation, timeline, activities), through the full
middleware stack with a logged-in inside-sales session.
Baseline: a bare query of the 500 members joined to their leads, same run.
"""

from __future__ import annotations

import itertools
import time

from django.db import connection

from bench.dataset import generate
from bench.harness import Figure

MEMBERS = 500
REQUESTS = 60

BARE = """
SELECT m.id, m.position, m.rank, m.score, l.email, l.last_name, l.first_name, l.owner_id
FROM scoring_hotlistmember m JOIN leads_lead l ON l.id = m.lead_id
WHERE m.run_id = %s ORDER BY m.position
"""


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[round(0.95 * (len(ordered) - 1))]


def _median(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2]


def _timed(fn, count: int) -> list[float]:
    fn()  # warm up
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _prepare():
    """This week's list topped up to 500 members (set-based), a third owned by the user."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from leads.models import Segment
    from leads.segments import install_presets
    from leads.services import leads_set_owner
    from ma_core.roles import sync_role_permissions
    from scoring.hotlists.models import HotList, HotListMember
    from scoring.hotlists.services import _order_members, hot_list_materialize

    install_presets()
    sync_role_permissions()
    user, _ = get_user_model().objects.get_or_create(
        username="bench-inside", defaults={"is_staff": True, "last_name": "鈴木"}
    )
    user.groups.add(Group.objects.get(name="Inside sales"))
    HotList.objects.filter(name="bench HOT list").delete()
    hot_list = HotList.objects.create(
        name="bench HOT list", segment=Segment.objects.get(preset_key="hot_leads")
    )
    run = hot_list_materialize(hot_list=hot_list)
    # Exactly MEMBERS: the first by priority when the search found more, topped
    # up with other leads when it found fewer.
    _order_members(run)
    HotListMember.objects.filter(run=run, position__gt=MEMBERS).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO scoring_hotlistmember (run_id, lead_id, position, rank, score, reasons, "
            "carried_over, added_at, removal_reason, handoff) "
            "SELECT %s, l.id, 0, l.rank, l.score, '[]', false, now(), '', '' FROM leads_lead l "
            "WHERE NOT EXISTS (SELECT 1 FROM scoring_hotlistmember m "
            "                  WHERE m.run_id = %s AND m.lead_id = l.id) "
            "ORDER BY l.id LIMIT GREATEST(0, %s - (SELECT count(*) FROM scoring_hotlistmember "
            "                                      WHERE run_id = %s))",
            [run.pk, run.pk, MEMBERS, run.pk],
        )
    _order_members(run)
    lead_ids = list(
        HotListMember.objects.filter(run=run).order_by("position").values_list("lead_id", flat=True)
    )
    leads_set_owner(lead_ids=lead_ids[::3], owner=user)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scoring_hotlistmember")
    return user, run, len(lead_ids)


def run(size: dict) -> list[Figure]:
    from django.test import Client

    from scoring.hotlists.models import HotListMember

    leads, events = size["leads"], size["events"]
    generate(leads=leads, events=events)
    user, hot_run, members = _prepare()
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    # Inside sales open one lead after another: the panel is timed over the
    # members in priority order (the bench's first members are its heaviest
    # leads: tens of thousands of events for the very first).
    panel_ids = list(
        HotListMember.objects.filter(run=hot_run)
        .order_by("position")
        .values_list("pk", flat=True)[:REQUESTS]
    )

    def get(url: str) -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.content[:200]}")

    list_url = f"/workbench/api/runs/{hot_run.pk}/members/"
    panel_urls = [f"/workbench/api/members/{pk}/" for pk in panel_ids]
    listed = len(client.get(list_url).json()["members"])
    if listed != members:
        raise RuntimeError(f"the workbench lists {listed} members, the run has {members}")

    def bare() -> None:
        with connection.cursor() as cursor:
            cursor.execute(BARE, [hot_run.pk])
            cursor.fetchall()

    list_samples = _timed(lambda: get(list_url), REQUESTS)
    # (the warm-up takes the first; the cycle comes back to it)
    panel_iter = itertools.cycle(panel_urls)
    panel_samples = _timed(lambda: get(next(panel_iter)), len(panel_urls))
    heaviest = _timed(lambda: get(panel_urls[0]), 5)
    bare_samples = _timed(bare, REQUESTS)
    workload = f"{members} members, {leads} leads / {events} events"
    if members != MEMBERS:
        raise RuntimeError(f"the list has {members} members, not {MEMBERS}")
    return [
        Figure(
            bench_id="B7",
            workload=f"workbench list JSON, {workload} (median {_median(list_samples):.0f} ms)",
            figure="p95 server time",
            unit="ms",
            value=_p95(list_samples),
            baseline="bare query of the 500 members",
            baseline_value=_p95(bare_samples),
            samples=list_samples,
            baseline_samples=bare_samples,
        ),
        Figure(
            bench_id="B7",
            workload=f"workbench lead panel JSON over the first {len(panel_urls)} members, "
            f"{workload} (median {_median(panel_samples):.0f} ms; the heaviest lead alone "
            f"{_median(heaviest):.0f} ms)",
            figure="p95 server time",
            unit="ms",
            value=_p95(panel_samples),
            baseline="bare query of the 500 members",
            baseline_value=_p95(bare_samples),
            samples=panel_samples,
            baseline_samples=bare_samples,
        ),
    ]
