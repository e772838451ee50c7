"""Scoring API: the DESIGN.md shapes, validation as JSON 400, explanation."""

import pytest

from leads.models import Lead
from scoring.models import RescoreJob, ScoreRule, TagAdjustment


def test_score_rules_and_tag_adjustments(marketer_api):
    rule = marketer_api.post(
        "/api/v1/score-rules/",
        {"name": "料金ページ", "event_type": "page_view", "url_pattern": "/pricing", "points": 10},
        format="json",
    )
    assert rule.status_code == 201, rule.json()
    assert ScoreRule.objects.get().url_like == "%/pricing%"
    assert RescoreJob.objects.count() == 1
    adjustment = marketer_api.post(
        "/api/v1/tag-adjustments/", {"tag": "失注", "points": -50}, format="json"
    )
    assert adjustment.status_code == 201
    assert adjustment.json() == {"id": TagAdjustment.objects.get().pk, "tag": "失注", "points": -50}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "event_type": "teleport", "points": 5}, "event_type"),
        (
            {"name": "x", "event_type": "page_view", "points": 5, "url_pattern": "***"},
            "url_pattern",
        ),
        (
            {"name": "x", "event_type": "page_view", "points": 5, "url_pattern": "/price list"},
            "url_pattern",
        ),
        ({"name": "x", "event_type": "page_view", "points": 0}, "points"),
        ({"name": "x", "event_type": "page_view", "points": 5, "daily_cap": -1}, "daily_cap"),
    ],
)
def test_bad_rules_are_400_naming_the_field(marketer_api, body, field):
    response = marketer_api.post("/api/v1/score-rules/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_thresholds_must_make_sense(marketer_api):
    bad = marketer_api.patch(
        "/api/v1/scoring-settings/", {"hot_min": 10, "warm_min": 30}, format="json"
    )
    assert bad.status_code == 400 and "hot_min" in bad.json()["error"]["fields"]
    ok = marketer_api.patch("/api/v1/scoring-settings/", {"hot_min": 80}, format="json")
    assert ok.status_code == 200 and ok.json()["hot_min"] == 80


def test_explanation_is_served(marketer_api):
    lead = Lead.objects.create(email="a@example.co.jp")
    body = marketer_api.get(f"/api/v1/leads/{lead.pk}/score/").json()
    assert body["score"] == 0 and body["rank"] == "COLD"
    assert body["window_days"] == 90


def test_sales_reps_cannot_change_rules(sales_api):
    response = sales_api.post(
        "/api/v1/score-rules/", {"name": "x", "event_type": "page_view", "points": 5}, format="json"
    )
    assert response.status_code == 403


def test_the_events_behind_a_day_need_a_rule_and_a_day(marketer_api):
    lead = Lead.objects.create(email="ev@example.co.jp")
    bad = marketer_api.get(f"/api/v1/leads/{lead.pk}/score/events/?rule=x&day=yesterday")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"rule", "day"}
    missing = marketer_api.get(f"/api/v1/leads/{lead.pk}/score/events/?rule=999&day=2026-11-20")
    assert missing.status_code == 400 and "rule" in missing.json()["error"]["fields"]
