"""The rolling-window score: edges, caps, tags, fit, rule changes, explanation."""

import datetime
import uuid

import pytest
import time_machine

from leads.models import Lead, Tag
from leads.services import tags_change
from scoring.models import FitRule, RankChange, ScoreRule, ScoringSettings, TagAdjustment
from scoring.selectors import lead_explanation
from scoring.services import (
    ledger_from_events,
    rules_recount,
    score_after_events,
    score_leads,
)
from tracking import writer

NOW = datetime.datetime(2026, 11, 20, 3, 0, tzinfo=datetime.UTC)


def page_views(lead, *ages, url="https://www.example.co.jp/pricing"):
    writer.write_batch(
        [
            {
                "uid": str(uuid.uuid4()),
                "type": "page_view",
                "occurred_at": (NOW - age).isoformat(),
                "lead_id": lead.pk,
                "url": url,
                "properties": {},
            }
            for age in ages
        ]
    )


def days(n, **extra):
    return datetime.timedelta(days=n, **extra)


@pytest.fixture
def lead(db):
    ScoringSettings.objects.create(hot_min=100, warm_min=30, window_days=90)
    return Lead.objects.create(email="hanako@example.co.jp", industry="製造業", employee_count=300)


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_an_entry_89_days_old_counts_and_one_91_days_old_does_not(lead):
    ScoreRule.objects.create(name="料金ページ", event_type="page_view", points=10)
    page_views(lead, days(89), days(91))
    score_after_events([lead.pk])
    lead.refresh_from_db()
    assert lead.score == 10 and lead.rank == "COLD"


@pytest.mark.django_db
def test_the_daily_job_drops_hot_to_warm_as_entries_leave_the_window(lead):
    ScoreRule.objects.create(name="閲覧", event_type="page_view", points=40)
    with time_machine.travel(NOW, tick=False):
        page_views(lead, days(1), days(2), days(89, hours=12))
        score_after_events([lead.pk])
        lead.refresh_from_db()
        assert (lead.score, lead.rank) == (120, "HOT")
    with time_machine.travel(NOW + days(1), tick=False):
        score_leads(None)
        lead.refresh_from_db()
        assert (lead.score, lead.rank) == (80, "WARM")
    changes = RankChange.objects.order_by("id")
    assert [(c.old_rank, c.new_rank, c.score) for c in changes] == [
        ("COLD", "HOT", 120),
        ("HOT", "WARM", 80),
    ]


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_rule_is_capped_per_lead_per_day(lead):
    ScoreRule.objects.create(name="リロード", event_type="page_view", points=5, daily_cap=15)
    page_views(lead, *[datetime.timedelta(minutes=m) for m in range(40)])  # 40 reloads today
    page_views(lead, days(3))
    score_after_events([lead.pk])
    lead.refresh_from_db()
    assert lead.score == 15 + 5


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_lost_deal_tag_lowers_the_score_and_removing_it_restores_it(lead):
    ScoreRule.objects.create(name="閲覧", event_type="page_view", points=60)
    TagAdjustment.objects.create(tag=Tag.objects.create(name="失注"), points=-50)
    page_views(lead, days(1), days(2))
    score_after_events([lead.pk])
    lead.refresh_from_db()
    assert lead.score == 120
    tags_change(lead=lead, add=["失注"], actor_kind="sfa")
    score_leads([lead.pk])
    lead.refresh_from_db()
    assert (lead.score, lead.rank) == (70, "WARM")
    tags_change(lead=lead, remove=["失注"], actor_kind="user")
    score_leads([lead.pk])
    lead.refresh_from_db()
    assert (lead.score, lead.rank) == (120, "HOT")


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_fit_rules_add_points_from_attributes(lead):
    FitRule.objects.create(
        name="製造業",
        points=20,
        condition={"field": "industry", "op": "in", "value": ["製造業", "建設"]},
    )
    FitRule.objects.create(
        name="300名以上", points=15, condition={"field": "employee_count", "op": ">=", "value": 300}
    )
    FitRule.objects.create(
        name="東京", points=99, condition={"field": "prefecture", "op": "=", "value": "13"}
    )
    other = Lead.objects.create(email="b@example.co.jp", industry="IT", employee_count=10)
    score_leads(None)
    lead.refresh_from_db()
    other.refresh_from_db()
    assert lead.score == 35 and other.score == 0


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_rule_change_rescores(lead):
    rule = ScoreRule.objects.create(
        name="料金",
        event_type="page_view",
        points=10,
        url_like="%/pricing%",
        url_pattern="/pricing",
    )
    page_views(lead, days(1))
    page_views(lead, days(1), url="https://www.example.co.jp/about")
    score_after_events([lead.pk])
    lead.refresh_from_db()
    assert lead.score == 10
    ScoreRule.objects.filter(pk=rule.pk).update(points=50)
    assert rules_recount() == 1  # new since it was counted by the incremental path
    score_leads(None)
    lead.refresh_from_db()
    assert lead.score == 50


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_explanation_parts_add_up_to_the_score(lead):
    ScoreRule.objects.create(name="閲覧", event_type="page_view", points=5, daily_cap=10)
    ScoreRule.objects.create(name="フォーム", event_type="form_submit", points=30)
    FitRule.objects.create(
        name="製造業", points=20, condition={"field": "industry", "op": "=", "value": "製造業"}
    )
    TagAdjustment.objects.create(tag=Tag.objects.create(name="競合"), points=-7)
    tags_change(lead=lead, add=["競合"], actor_kind="user")
    page_views(lead, days(0), days(0, minutes=5), days(0, minutes=9), days(10))
    writer.write_batch(
        [
            {
                "uid": str(uuid.uuid4()),
                "type": "form_submit",
                "lead_id": lead.pk,
                "occurred_at": (NOW - days(5)).isoformat(),
                "properties": {},
            }
        ]
    )
    ledger_from_events()
    score_leads(None)
    lead.refresh_from_db()
    explained = lead_explanation(lead)
    assert explained["score"] == lead.score == (10 + 5) + 30 + 20 - 7
    assert explained["rank"] == lead.rank
    by_rule = {r["name"]: r for r in explained["behaviour"]["rules"]}
    assert by_rule["閲覧"]["points"] == 15 and by_rule["閲覧"]["capped_days"] == 1
    assert by_rule["フォーム"]["leaves_window"][0]["leaves_at"].startswith("2027-02-")


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_rank_changes_appear_on_the_lead_timeline(lead):
    from django.utils import translation

    from leads.timeline import lead_timeline

    ScoreRule.objects.create(name="閲覧", event_type="page_view", points=50)
    page_views(lead, days(1), days(2))
    score_after_events([lead.pk])
    with translation.override("en"):
        entries = [e for e in lead_timeline(lead.pk).entries if e.kind == "rank_changed"]
    assert [e.title for e in entries] == ["Rank COLD → HOT (score 100)"]
