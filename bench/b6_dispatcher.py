"""B6: the scenario dispatcher advancing due scenario runs.

Workload: N leads enrolled in a scenario, all due now; each run takes a
branch (has tag 資料請求 — a compound-search block compiled to one query for
the batch), a tag action on its side of the branch (``leads.services``,
set-based), a send action (one INSERT of send rows, UNIQUE per enrollment and
step), and parks at a one-day wait. Three steps per run, so 3 × N due steps.

Figure: due scenario steps advanced per second by
``scenario_enrollments_advance`` (claim ``FOR UPDATE SKIP LOCKED`` in batches
of 5,000, set-based per step, one UPDATE writing the batch back). Baseline:
the issue's goal of 2,000 steps/s. The step-mail dispatcher (B5) covers step
mail; this covers branching scenarios.
"""

from __future__ import annotations

import time

from django.db import connection

from bench.dataset import generate
from bench.harness import Figure

#: Scenario runs per size: 3 steps each, so medium ≈ 100,000 due steps, full 300,000.
RUNS = {"tiny": 1_000, "medium": 33_334, "full": 100_000}
GOAL = 2_000.0


def _scenario():
    from scenarios.engine import scenario_save_graph
    from scenarios.models import EmailTemplate, Scenario, Send

    Send.objects.filter(kind="scenario").delete()
    Scenario.objects.filter(name="bench B6").delete()
    template, _ = EmailTemplate.objects.update_or_create(
        name="bench B6", defaults={"subject": "{{ lead.last_name }} 様", "html_body": "<p>B6</p>"}
    )
    scenario = Scenario.objects.create(
        name="bench B6", exit_on_customer=False, exit_on_unsubscribe=False
    )
    scenario_save_graph(
        scenario=scenario,
        steps=[
            {"key": "q", "kind": "branch", "next_key": "yes", "else_key": "no",
             "config": {"condition": {"kind": "tag", "op": "has", "value": "資料請求"}}},
            {"key": "yes", "kind": "add_tag", "config": {"tag": "B6関心"}, "next_key": "mail"},
            {"key": "no", "kind": "remove_tag", "config": {"tag": "B6関心"}, "next_key": "mail"},
            {"key": "mail", "kind": "send_email", "config": {"template": template.pk},
             "next_key": "wait"},
            {"key": "wait", "kind": "wait", "config": {"days": 1}, "next_key": "end"},
            {"key": "end", "kind": "end"},
        ],
    )  # fmt: skip
    return scenario


def run(size: dict) -> list[Figure]:
    from scenarios.engine import scenario_enroll, scenario_enrollments_advance
    from scenarios.models import ScenarioEnrollment, Send

    runs = RUNS[size["name"]]
    generate(leads=max(size["leads"], runs), events=size["events"])
    scenario = _scenario()
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM leads_lead ORDER BY id LIMIT %s", [runs])
        lead_ids = [row[0] for row in cursor.fetchall()]
    assert scenario_enroll(scenario=scenario, lead_ids=lead_ids) == runs

    started = time.perf_counter()
    steps = 0
    while True:
        done = scenario_enrollments_advance()
        if not done:
            break
        steps += done
    elapsed = time.perf_counter() - started

    parked = ScenarioEnrollment.objects.filter(
        scenario=scenario, state="active", step__key="wait"
    ).count()
    sends = Send.objects.filter(scenario_step__scenario=scenario).count()
    assert (steps, parked, sends) == (3 * runs, runs, runs), (steps, parked, sends)
    Send.objects.filter(kind="scenario").delete()
    scenario.delete()
    return [
        Figure(
            bench_id="B6",
            workload=f"scenario: {runs:,} due runs × 3 steps (branch, tag, send) → wait",
            figure="due scenario steps advanced per second",
            unit="steps/s",
            value=steps / elapsed,
            baseline="goal 2,000/s (issue #8)",
            baseline_value=GOAL,
            samples=[elapsed],
            baseline_samples=[steps / GOAL],
        ),
    ]
