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


@pytest.fixture
def viewed(db):
    ScoringSettings.objects.create(hot_min=100, warm_min=30, window_days=90)
    lead = Lead.objects.create(email="rescore@example.co.jp")
    writer.write_batch(
        [
            {
                "uid": str(uuid.uuid4()),
                "type": "page_view",
                "occurred_at": (NOW - datetime.timedelta(days=d)).isoformat(),
                "lead_id": lead.pk,
                "url": "https://www.example.co.jp/pricing",
                "properties": {},
            }
            for d in (1, 2, 3)
        ]
    )
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
