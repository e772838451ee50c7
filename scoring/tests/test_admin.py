"""The marketer's scoring screens: bad input gets a message on the field,
saving rescores in the background, the lead page explains the score."""

import datetime
import html
import re
import uuid

import pytest
import time_machine
from django.contrib.auth.models import Group

from leads.models import Lead, Tag
from leads.services import tags_change
from leads.tests.factories import UserFactory
from scoring.models import FitRule, RescoreJob, ScoreRule, ScoringSettings, TagAdjustment
from scoring.services import score_after_events
from tracking import writer

NOW = datetime.datetime(2026, 11, 20, 3, 0, tzinfo=datetime.UTC)


@pytest.fixture
def marketer_client(client, db):
    user = UserFactory(username="scoring-marketer")
    user.groups.add(Group.objects.get(name="Marketer"))
    client.force_login(user)
    return client


def errors_of(response) -> str:
    return html.unescape(" ".join(re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>',
                                             response.content.decode(), re.S)))  # fmt: skip


RULE = {
    "name": "料金ページ",
    "event_type": "page_view",
    "url_pattern": "/pricing",
    "form_key": "",
    "points": "10",
    "daily_cap": "",
    "is_active": "on",
}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"url_pattern": "***"}, "The pattern matches every URL"),
        ({"url_pattern": "/price list"}, "no spaces"),
        ({"event_type": "teleport"}, "Select a valid choice"),
        ({"points": "0"}, "A rule worth 0 points changes nothing"),
    ],
)
def test_a_bad_rule_gets_a_message_and_is_not_saved(marketer_client, change, message):
    response = marketer_client.post(
        "/admin/scoring/scorerule/add/", {**RULE, **change}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    assert message in errors_of(response)
    assert not ScoreRule.objects.exists()


@pytest.mark.django_db
def test_saving_a_rule_rescores_in_the_background(marketer_client):
    response = marketer_client.post("/admin/scoring/scorerule/add/", RULE)
    assert response.status_code == 302
    rule = ScoreRule.objects.get()
    assert rule.url_like == "%/pricing%"
    job = RescoreJob.objects.get()
    assert job.reason == f"rule {rule.pk} changed"
    listing = marketer_client.get("/admin/scoring/rescorejob/").content.decode()
    assert f"rule {rule.pk} changed" in listing and "0/2" in listing


@pytest.mark.django_db
def test_hot_below_warm_is_refused_with_a_message(marketer_client):
    row = ScoringSettings.objects.create(hot_min=100, warm_min=30, window_days=90)
    response = marketer_client.post(
        f"/admin/scoring/scoringsettings/{row.pk}/change/",
        {"hot_min": "20", "warm_min": "30", "window_days": "90"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert "HOT must start above WARM" in errors_of(response)
    row.refresh_from_db()
    assert row.hot_min == 100


@pytest.mark.django_db
def test_fit_rules_are_edited_as_field_operator_value(marketer_client):
    form = {"name": "製造業・建設", "points": "15", "is_active": "on"}
    bad = marketer_client.post(
        "/admin/scoring/fitrule/add/",
        {**form, "condition_field": "employee_count", "condition_op": ">=",
         "condition_value": "多い"},
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    assert bad.status_code == 200 and errors_of(bad)
    assert not FitRule.objects.exists()
    good = marketer_client.post(
        "/admin/scoring/fitrule/add/",
        {**form, "condition_field": "industry", "condition_op": "in",
         "condition_value": "製造業、建設"},
    )  # fmt: skip
    assert good.status_code == 302
    assert FitRule.objects.get().condition == {
        "field": "industry",
        "op": "in",
        "value": ["製造業", "建設"],
    }
    assert RescoreJob.objects.filter(reason="fit rules changed").count() == 1
    edit = marketer_client.get(f"/admin/scoring/fitrule/{FitRule.objects.get().pk}/change/")
    assert 'value="製造業, 建設"' in edit.content.decode()


@pytest.mark.django_db
def test_a_tag_adjustment_of_zero_is_refused(marketer_client):
    tag = Tag.objects.create(name="失注")
    response = marketer_client.post(
        "/admin/scoring/tagadjustment/add/",
        {"tag": tag.pk, "points": "0"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "An adjustment of 0 points changes nothing" in errors_of(response)
    ok = marketer_client.post("/admin/scoring/tagadjustment/add/", {"tag": tag.pk, "points": "-50"})
    assert ok.status_code == 302 and TagAdjustment.objects.get().points == -50


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_lead_page_explains_why_the_lead_is_hot(marketer_client):
    ScoringSettings.objects.create(hot_min=100, warm_min=30, window_days=90)
    ScoreRule.objects.create(name="資料ダウンロード", event_type="download", points=60)
    TagAdjustment.objects.create(tag=Tag.objects.create(name="展示会"), points=5)
    lead = Lead.objects.create(email="why@example.co.jp")
    tags_change(lead=lead, add=["展示会"], actor_kind="user")
    writer.write_batch(
        [
            {
                "uid": str(uuid.uuid4()),
                "type": "download",
                "occurred_at": (NOW - datetime.timedelta(days=d)).isoformat(),
                "lead_id": lead.pk,
                "properties": {},
            }
            for d in (1, 10)
        ]
    )
    score_after_events([lead.pk])
    page = marketer_client.get(
        f"/admin/leads/lead/{lead.pk}/change/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    panel = html.unescape(re.sub(r"<[^>]+>", " ", page[page.index('id="score"') :]))
    panel = " ".join(panel.split())
    assert "Why HOT: score 125" in panel
    assert "資料ダウンロード 2 events" in panel
    assert "+60 on 2027-02-17" in panel and "+60 on 2027-02-08" in panel
    assert "Tag: 展示会 5" in panel
