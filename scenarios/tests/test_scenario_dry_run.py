"""Dry run: who would enter now and what each would receive over 14 days —
waits, send windows and the weekly cap applied, opens and clicks assumed not
to happen unless the branch says so — with nothing written or sent."""

import datetime
import zoneinfo

import pytest
import time_machine

from leads.models import ActorKind
from leads.services import tags_add_bulk
from leads.tests.factories import LeadFactory
from scenarios.dry_run import scenario_dry_run
from scenarios.models import EmailTemplate, ScenarioEnrollment, Send, SendWindow

from .conftest import make_scenario

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
FRI = datetime.datetime(2026, 3, 6, 15, 0, tzinfo=TOKYO)  # a Friday afternoon


@pytest.fixture
def scenario(profile, template):
    second = EmailTemplate.objects.create(name="2通目", subject="2通目", html_body="<p>2</p>")
    third = EmailTemplate.objects.create(name="3通目", subject="3通目", html_body="<p>3</p>")
    clicked = EmailTemplate.objects.create(name="クリック", subject="事例", html_body="<p>c</p>")
    morning = SendWindow.objects.create(
        name="平日朝", weekdays=[0, 1, 2, 3, 4], start_time=datetime.time(9),
        end_time=datetime.time(10), time_zone="Asia/Tokyo",
    )  # fmt: skip
    return make_scenario(
        "資料A",
        [
            {"key": "m1", "kind": "send_email",
             "config": {"template": template.pk, "send_window": morning.pk}, "next_key": "m2"},
            {"key": "m2", "kind": "send_email", "config": {"template": second.pk},
             "next_key": "m3"},
            {"key": "m3", "kind": "send_email", "config": {"template": third.pk},
             "next_key": "w"},
            {"key": "w", "kind": "wait", "config": {"days": 2}, "next_key": "q"},
            {"key": "q", "kind": "branch",
             "config": {"condition": {"kind": "scenario_mail", "action": "clicked"}},
             "next_key": "yes", "else_key": "no"},
            {"key": "yes", "kind": "send_email", "config": {"template": clicked.pk}},
            {"key": "no", "kind": "add_tag", "config": {"tag": "未クリック"}},
        ],
        trigger="tag_added", trigger_config={"tag": "資料A"}, exit_tags=["失注"],
    )  # fmt: skip


@pytest.mark.django_db
def test_the_plan_follows_windows_the_weekly_cap_and_the_no_click_assumption(scenario):
    # given two leads with the trigger's tag (one also lost) and one without
    a, lost, _other = LeadFactory(), LeadFactory(), LeadFactory()
    tags_add_bulk(lead_ids=[a.pk, lost.pk], names=["資料A"], actor_kind=ActorKind.USER)
    tags_add_bulk(lead_ids=[lost.pk], names=["失注"], actor_kind=ActorKind.USER)

    with time_machine.travel(FRI, tick=False):
        result = scenario_dry_run(scenario=scenario)

    assert (result["count"], result["shown"]) == (1, 1)
    plan = result["leads"][0]
    assert plan["lead"] == a.pk
    items = [(i["at"], i["step"], i["what"], i["note"]) for i in plan["items"]]
    sunday = (FRI + datetime.timedelta(days=2)).isoformat()
    assert items == [
        # no window: m2 and m3 go at once, Friday 15:00 (the cap is 2 per 7 days)
        (FRI.isoformat(), "m2", "2通目", ""),
        (FRI.isoformat(), "m3", "3通目", ""),
        # two days after Friday 15:00, nobody is assumed to click
        (sunday, "q", "no", "assumed no open or click"),
        (sunday, "no", "未クリック", ""),
        # m1 waits for its window (Monday 09:00–10:00), then for the cap (Friday
        # 15:00 + 7 days), then for the window again: Monday the 16th, 09:00
        (datetime.datetime(2026, 3, 16, 9, 0, tzinfo=TOKYO).isoformat(), "m1",
         f"{a.company_name} {a.last_name} 様へ: 資料Aのご案内",
         "send window “平日朝”, weekly cap of 2"),
    ]  # fmt: skip
    # and nothing was written
    assert not ScenarioEnrollment.objects.exists() and not Send.objects.exists()


@pytest.mark.django_db
def test_a_branch_may_assume_a_click_and_the_api_and_admin_show_the_plan(
    scenario, marketer_api, admin_client
):
    step = scenario.steps.get(key="q")
    step.config = {**step.config, "dry_run_assume": True}
    step.save()
    lead = LeadFactory(email="plan@example.co.jp")
    tags_add_bulk(lead_ids=[lead.pk], names=["資料A"], actor_kind=ActorKind.USER)

    with time_machine.travel(FRI, tick=False):
        response = marketer_api.post(f"/api/v1/scenarios/{scenario.pk}/dry-run/", {},
                                     format="json")  # fmt: skip
        page = admin_client.get(f"/admin/scenarios/scenario/{scenario.pk}/dry-run/")
    assert response.status_code == 200
    items = response.json()["leads"][0]["items"]
    branch = next(i for i in items if i["step"] == "q")
    assert (branch["taken"], branch["what"], branch["note"]) == ("yes", "はい", "仮定")
    assert ("yes", "事例") in [(i["step"], i["what"]) for i in items]
    assert page.status_code == 200
    html = page.content.decode()
    assert "plan@example.co.jp" in html and "事例" in html
    assert not Send.objects.exists()
