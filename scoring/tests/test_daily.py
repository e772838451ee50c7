"""The nightly job: leads whose ledger days leave the window drop rank (sent as
``rank_changed`` and shown on the timeline), days are pruned, snapshots kept."""

import datetime
import uuid

import pytest
import time_machine

from leads.models import Lead
from scoring.models import ScoreDay, ScoreRule, ScoreSnapshot, ScoringSettings
from scoring.signals import rank_changed
from scoring.tasks import daily_rescore
from tracking import writer

NOW = datetime.datetime(2026, 11, 20, 3, 0, tzinfo=datetime.UTC)


def page_views(lead, *ages):
    writer.write_batch(
        [
            {
                "uid": str(uuid.uuid4()),
                "type": "page_view",
                "occurred_at": (NOW - age).isoformat(),
                "lead_id": lead.pk,
                "url": "https://www.example.co.jp/",
                "properties": {},
            }
            for age in ages
        ]
    )


@pytest.fixture
def received():
    changes = []

    def receiver(sender, changes: list, **kwargs):
        received_changes.extend(changes)

    received_changes = changes
    rank_changed.connect(receiver, dispatch_uid="test-daily-rank-changed")
    yield changes
    rank_changed.disconnect(dispatch_uid="test-daily-rank-changed")


@pytest.mark.django_db(transaction=True)
def test_the_daily_job_drops_hot_to_warm_and_says_so(received):
    ScoringSettings.objects.create(hot_min=100, warm_min=30, window_days=90)
    ScoreRule.objects.create(name="閲覧", event_type="page_view", points=40)
    lead = Lead.objects.create(email="daily@example.co.jp")
    days = datetime.timedelta
    with time_machine.travel(NOW, tick=False):
        # the batch's scoring task was lost: the nightly catch-up covers two days only,
        # so this lead's older views come in through the daily job of their own day
        page_views(lead, days(hours=1), days(days=1, hours=1), days(days=89, hours=11))
        daily_rescore.apply()
    lead.refresh_from_db()
    # (89 days 11 hours ago is 2026-08-23 01:00 Tokyo, the window's first day.)
    assert (lead.score, lead.rank) == (80, "WARM")
    from scoring.services import score_after_events

    with time_machine.travel(NOW, tick=False):
        score_after_events([lead.pk])
        daily_rescore.apply()
    lead.refresh_from_db()
    assert (lead.score, lead.rank) == (120, "HOT")
    assert ScoreSnapshot.objects.get(lead=lead, day=datetime.date(2026, 11, 20)).rank == "HOT"
    with time_machine.travel(NOW + datetime.timedelta(days=1), tick=False):
        daily_rescore.apply()
    lead.refresh_from_db()
    assert (lead.score, lead.rank) == (80, "WARM")
    assert received[-1] == (lead.pk, "HOT", "WARM")
    # the day that left is pruned; snapshots of both days remain
    assert sorted(ScoreDay.objects.values_list("day", flat=True)) == [
        datetime.date(2026, 11, 19),
        datetime.date(2026, 11, 20),
    ]
    assert list(
        ScoreSnapshot.objects.filter(lead=lead).order_by("day").values_list("day", "score", "rank")
    ) == [
        (datetime.date(2026, 11, 20), 120, "HOT"),
        (datetime.date(2026, 11, 21), 80, "WARM"),
    ]


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_snapshots_are_idempotent_per_day_and_served_as_history(marketer_api):
    from scoring.services import score_after_events, snapshots_write

    ScoringSettings.objects.create(hot_min=100, warm_min=30, window_days=90)
    ScoreRule.objects.create(name="閲覧", event_type="page_view", points=40)
    lead = Lead.objects.create(email="trend@example.co.jp")
    cold = Lead.objects.create(email="cold@example.co.jp")
    page_views(lead, datetime.timedelta(hours=1))
    score_after_events([lead.pk])
    assert snapshots_write() == 1
    # the score changes during the day and the job runs again: one row, the new value
    page_views(lead, datetime.timedelta(minutes=5))
    score_after_events([lead.pk])
    assert snapshots_write() == 1
    assert list(ScoreSnapshot.objects.values_list("lead_id", "score")) == [(lead.pk, 80)]
    body = marketer_api.get(f"/api/v1/leads/{lead.pk}/score/").json()
    assert len(body["history"]) == 90
    assert body["history"][-1] == {"day": "2026-11-20", "score": 80, "rank": "WARM"}
    assert body["history"][0] == {"day": "2026-08-23", "score": 0, "rank": "COLD"}
    assert marketer_api.get(f"/api/v1/leads/{cold.pk}/score/").json()["history"][-1]["score"] == 0
