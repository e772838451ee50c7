"""The ledger: one row per (lead, rule, local day), recomputed from events
(never added to), rebuilt in full or per rule, and the events behind a day."""

import datetime
import uuid

import pytest
import time_machine
from django.db import connection

from leads.models import Lead
from scoring import services
from scoring.models import ScoreDay, ScoreRule, ScoringSettings
from scoring.selectors import score_day_events
from scoring.services import (
    ledger_from_events,
    ledger_rebuild,
    rules_recount,
    score_after_events,
    score_leads,
)
from tracking import writer

NOW = datetime.datetime(2026, 11, 20, 3, 0, tzinfo=datetime.UTC)  # 12:00 in Tokyo


def events(lead, *ages, type="page_view", url="https://www.example.co.jp/pricing"):
    writer.write_batch(
        [
            {
                "uid": str(uuid.uuid4()),
                "type": type,
                "occurred_at": (NOW - age).isoformat(),
                "lead_id": lead.pk,
                "url": url,
                "properties": {},
            }
            for age in ages
        ]
    )


def ledger_rows():
    return sorted(ScoreDay.objects.values_list("lead_id", "rule_id", "day", "events"))


@pytest.fixture
def lead(db):
    ScoringSettings.objects.create(hot_min=100, warm_min=30, window_days=90)
    return Lead.objects.create(email="ledger@example.co.jp")


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_one_row_per_rule_and_local_day_counting_its_events_with_points_capped_per_day(lead):
    rule = ScoreRule.objects.create(name="閲覧", event_type="page_view", points=5, daily_cap=10)
    # 3 views today, and one at 23:30 Tokyo two days ago (14:30 UTC: a different UTC day)
    events(lead, datetime.timedelta(minutes=1), datetime.timedelta(minutes=2))
    events(lead, datetime.timedelta(minutes=3))
    events(lead, datetime.timedelta(days=1, hours=12, minutes=30))
    score_after_events([lead.pk])
    today, two_days_ago = datetime.date(2026, 11, 20), datetime.date(2026, 11, 18)
    assert ledger_rows() == [
        (lead.pk, rule.pk, two_days_ago, 1),
        (lead.pk, rule.pk, today, 3),
    ]
    lead.refresh_from_db()
    assert lead.score == 5 + 10  # today's 15 points are capped at 10


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_retried_batch_does_not_count_twice(lead):
    ScoreRule.objects.create(name="閲覧", event_type="page_view", points=7)
    events(lead, datetime.timedelta(hours=1), datetime.timedelta(days=3))
    score_after_events([lead.pk])
    first = ledger_rows()
    # the task runs again (a retry, a duplicate delivery) and with a since day
    score_after_events([lead.pk])
    score_after_events([lead.pk], since=datetime.date(2026, 11, 17))
    ledger_from_events(lead_ids=[lead.pk])
    assert ledger_rows() == first
    lead.refresh_from_db()
    assert lead.score == 14


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_full_rebuild_gives_the_rows_the_increments_gave(lead):
    ScoreRule.objects.create(name="閲覧", event_type="page_view", points=2, daily_cap=4)
    ScoreRule.objects.create(name="DL", event_type="download", points=15)
    other = Lead.objects.create(email="other@example.co.jp")
    events(lead, *[datetime.timedelta(days=d, minutes=m) for d in (0, 5, 60) for m in (1, 2, 3)])
    events(other, datetime.timedelta(days=2), type="download")
    score_after_events([lead.pk, other.pk])
    incremental = ledger_rows()
    # when the ledger is emptied and rebuilt from events in one go
    ScoreDay.objects.all().delete()
    rebuilt = ledger_rebuild()
    # then it holds the same rows, under its primary key (a second row for a key is refused)
    assert rebuilt == len(incremental) == 4
    assert ledger_rows() == incremental
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s",
            ["scoring_scoreday_pkey"],
        )
        assert cursor.fetchone() == ("PRIMARY KEY (lead_id, rule_id, day)",)
    assert score_leads(None)["changed"] == 0  # scores already matched


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("swap_share", [0, 10**9], ids=["new table", "delete and insert"])
def test_a_points_change_recounts_nothing_and_a_pattern_change_recounts_only_that_rule(
    lead, swap_share, monkeypatch
):
    monkeypatch.setattr(services, "RECOUNT_BY_SWAP_SHARE", swap_share)
    views = ScoreRule.objects.create(name="閲覧", event_type="page_view", points=2)
    downloads = ScoreRule.objects.create(name="DL", event_type="download", points=15)
    events(lead, datetime.timedelta(days=1))
    events(lead, datetime.timedelta(days=1), type="download")
    score_after_events([lead.pk])
    rules_recount()  # both new rules are counted once
    counted = ledger_rows()
    yesterday = datetime.date(2026, 11, 19)
    assert counted == [(lead.pk, views.pk, yesterday, 1), (lead.pk, downloads.pk, yesterday, 1)]
    # when a rule's points change and another is paused, nothing is recounted
    ScoreRule.objects.filter(pk=downloads.pk).update(points=20)
    ScoreRule.objects.filter(pk=views.pk).update(is_active=False)
    assert rules_recount() == 0
    score_leads(None)
    # then the rows stay, and the score takes the new points without the paused rule
    assert ledger_rows() == counted
    assert Lead.objects.get(pk=lead.pk).score == 20
    # when the paused rule comes back, its rows count again (no recount either)
    ScoreRule.objects.filter(pk=views.pk).update(is_active=True)
    assert rules_recount() == 0
    score_leads(None)
    assert Lead.objects.get(pk=lead.pk).score == 22
    # when the view rule's URL pattern changes, only its rows are recounted
    ScoreRule.objects.filter(pk=views.pk).update(url_pattern="/about", url_like="%/about%")
    rules_recount()
    assert ledger_rows() == [(lead.pk, downloads.pk, yesterday, 1)]  # no view of /about
    score_leads(None)
    assert Lead.objects.get(pk=lead.pk).score == 20


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_window_is_whole_local_days(lead):
    ScoreRule.objects.create(name="閲覧", event_type="page_view", points=1)
    # 90 days: 2026-08-23 … 2026-11-20 (Tokyo). 00:00 on the first day counts;
    # 23:59 the day before does not.
    first_day_midnight = NOW - datetime.timedelta(days=89, hours=12)
    events(lead, NOW - first_day_midnight)
    events(lead, NOW - first_day_midnight + datetime.timedelta(minutes=1))
    score_after_events([lead.pk])
    lead.refresh_from_db()
    assert lead.score == 1


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_events_behind_a_ledger_day_are_listed(lead):
    rule = ScoreRule.objects.create(
        name="料金", event_type="page_view", points=3, url_pattern="/pricing", url_like="%/pricing%"
    )
    events(lead, datetime.timedelta(hours=1), datetime.timedelta(hours=2))
    events(lead, datetime.timedelta(hours=1), url="https://www.example.co.jp/about")
    events(lead, datetime.timedelta(days=1))
    listed = score_day_events(lead=lead, rule=rule, day=datetime.date(2026, 11, 20))
    assert [e["url"] for e in listed] == ["https://www.example.co.jp/pricing"] * 2
    assert listed[0]["occurred_at"] < listed[1]["occurred_at"]


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=False)
def test_a_batch_tells_scoring_its_earliest_day_and_only_those_days_are_recomputed(lead):
    # given a lead with views today and 10 days ago, scored
    rule = ScoreRule.objects.create(name="閲覧", event_type="page_view", points=5)
    events(lead, datetime.timedelta(days=10), datetime.timedelta(hours=1))
    score_after_events([lead.pk])
    assert Lead.objects.get(pk=lead.pk).score == 10
    # when a batch arrives with a backdated view (3 days ago) and one now
    seen = {}

    def capture(sender, by_lead, earliest=None, **kwargs):
        seen.update(earliest or {})

    from tracking.signals import events_recorded

    events_recorded.connect(capture, dispatch_uid="test-earliest")
    try:
        events(lead, datetime.timedelta(minutes=1), datetime.timedelta(days=3))
    finally:
        events_recorded.disconnect(dispatch_uid="test-earliest")
    # then the signal names the lead's earliest new event
    assert seen == {lead.pk: NOW - datetime.timedelta(days=3)}
    # and the scoring task recomputes from that local day on: all four views count
    from scoring.tasks import score_leads as score_task

    since = (NOW - datetime.timedelta(days=3)).astimezone(datetime.UTC).date().isoformat()
    score_task(lead_ids=[lead.pk], since=since)
    assert Lead.objects.get(pk=lead.pk).score == 20
    assert sum(d for *_k, d in ledger_rows()) == 4  # events counted over the ledger days
    assert rule.days.count() == 3
