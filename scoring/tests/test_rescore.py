"""Rescoring everyone: after a rule change (a background job with progress,
claimed once) and on demand with ``manage.py recompute_scores``."""

import datetime
import io
import uuid

import pytest
import time_machine
from django.core.management import call_command

from leads.models import Lead
from scoring.models import RescoreJob, ScoreRule, ScoringSettings
from scoring.services import score_after_events
from scoring.tasks import rescore_all
from tracking import writer

NOW = datetime.datetime(2026, 11, 20, 3, 0, tzinfo=datetime.UTC)


def view(lead, age: datetime.timedelta, url="https://www.example.co.jp/pricing") -> dict:
    """A page view of ``lead`` ``age`` before NOW, as the writer takes it."""
    return {
        "uid": str(uuid.uuid4()),
        "type": "page_view",
        "occurred_at": (NOW - age).isoformat(),
        "lead_id": lead.pk,
        "url": url,
        "properties": {},
    }


@pytest.fixture
def viewed(db):
    ScoringSettings.objects.create(hot_min=100, warm_min=30, window_days=90)
    lead = Lead.objects.create(email="rescore@example.co.jp")
    writer.write_batch([view(lead, datetime.timedelta(days=d)) for d in (1, 2, 3)])
    return lead


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_rule_change_through_the_api_rescores_with_progress(marketer_api, viewed):
    rule = ScoreRule.objects.create(name="料金", event_type="page_view", points=10)
    score_after_events([viewed.pk])
    response = marketer_api.patch(f"/api/v1/score-rules/{rule.pk}/", {"points": 40}, format="json")
    assert response.status_code == 200
    job = RescoreJob.objects.get()
    assert (job.state, job.done_steps, job.total_steps) == ("pending", 0, 2)
    rescore_all.apply(args=[job.pk, [rule.pk]])
    job.refresh_from_db()
    viewed.refresh_from_db()
    assert (job.state, job.done_steps, job.leads_changed) == ("done", 2, 1)
    assert (viewed.score, viewed.rank) == (120, "HOT")
    # a second delivery of the same job finds nothing to claim
    rescore_all.apply(args=[job.pk, [rule.pk]])
    job.refresh_from_db()
    assert job.state == "done" and job.leads_changed == 1


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_recompute_scores_prints_progress_and_counts(viewed):
    ScoreRule.objects.create(name="閲覧", event_type="page_view", points=20)
    out = io.StringIO()
    call_command("recompute_scores", "--snapshot", stdout=out)
    text = out.getvalue()
    viewed.refresh_from_db()
    assert viewed.score == 60 and viewed.rank == "WARM"
    assert "Step 1/2: ledger rebuilt from events: 3 rows" in text
    assert "Step 2/2: scores recomputed: 1 leads changed" in text
    assert "1 leads changed rank" in text
    assert "Today's snapshot: 1 leads." in text


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=False)
def test_every_lead_is_scored_in_id_ranges_side_by_side(monkeypatch):
    from django.db import connection

    from scoring import services
    from scoring.models import RankChange

    # given seven leads with 1…7 views and a threshold that makes some HOT
    ScoringSettings.objects.create(hot_min=50, warm_min=20, window_days=90)
    ScoreRule.objects.create(name="閲覧", event_type="page_view", points=10)
    leads = [Lead.objects.create(email=f"range{n}@example.co.jp") for n in range(1, 8)]
    writer.write_batch(
        [
            view(lead, datetime.timedelta(hours=h), url="https://www.example.co.jp/")
            for n, lead in enumerate(leads, start=1)
            for h in range(n)
        ]
    )
    services.ledger_rebuild()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
    # and "many leads" lowered so that seven are many
    monkeypatch.setattr(services, "MANY_LEADS", 2)
    ranges = services._id_ranges(services.SCORING_CONNECTIONS)
    assert len(ranges) == 2 and ranges[0][1] + 1 == ranges[1][0]
    # when every lead is scored outside a transaction
    result = services.score_leads(None)
    # then both ranges were scored, on their own connections, every lead once
    scores = dict(Lead.objects.values_list("email", "score"))
    assert scores == {f"range{n}@example.co.jp": 10 * n for n in range(1, 8)}
    ranks = dict(Lead.objects.values_list("email", "rank"))
    assert [ranks[f"range{n}@example.co.jp"] for n in range(1, 8)] == (
        ["COLD"] + ["WARM"] * 3 + ["HOT"] * 3
    )
    assert result["changed"] == 7
    assert sorted(new for _lead, _old, new in result["rank_changes"]) == sorted(
        ["WARM"] * 3 + ["HOT"] * 3
    )
    assert RankChange.objects.count() == 6
