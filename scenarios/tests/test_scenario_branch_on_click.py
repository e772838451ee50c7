"""Branch on click: two days after mail 1, a lead who clicked a link in it
(a real click through the tracked redirect) gets the case-study mail; a lead
who did not gets the reminder. Each mail is sent once, through the send path."""

import datetime
import re
import zoneinfo

import pytest
import time_machine
from django.test import Client

from scenarios.engine import scenario_enroll
from scenarios.models import EmailTemplate, ScenarioEnrollment, Send

from .conftest import consenting_lead, html_part, make_scenario, received, run_dispatch

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
START = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=TOKYO)  # a Monday


@pytest.fixture
def scenario(profile, template):
    case = EmailTemplate.objects.create(name="事例", subject="導入事例", html_body="<p>事例</p>")
    nudge = EmailTemplate.objects.create(
        name="再送", subject="資料Aはご覧に?", html_body="<p>?</p>"
    )
    return make_scenario(
        "資料Aナーチャリング",
        [
            {"key": "mail1", "kind": "send_email", "config": {"template": template.pk},
             "next_key": "wait2d"},
            {"key": "wait2d", "kind": "wait", "config": {"days": 2}, "next_key": "clicked"},
            {"key": "clicked", "kind": "branch",
             "config": {"condition": {"kind": "scenario_mail", "action": "clicked",
                                      "step": "mail1"}},
             "next_key": "case", "else_key": "nudge"},
            {"key": "case", "kind": "send_email", "config": {"template": case.pk}},
            {"key": "nudge", "kind": "send_email", "config": {"template": nudge.pk}},
        ],
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_click_in_mail_one_takes_the_yes_branch(scenario, smtp_settings):
    # given two leads entering on Monday 10:00, both mailed mail 1
    clicker, idle = consenting_lead(), consenting_lead()
    with time_machine.travel(START, tick=False):
        assert scenario_enroll(scenario=scenario, lead_ids=[clicker.pk, idle.pk]) == 2
    run_dispatch(START)
    mails = received(smtp_settings)
    assert sorted(m["To"] for m in mails) == sorted([clicker.email, idle.email])

    # when one of them clicks the first link of their mail (the tracked redirect)
    mail = next(m for m in mails if m["To"] == clicker.email)
    link = re.search(r'href="(https://kizuki\.example\.co\.jp/m/c/[^"]+)"', html_part(mail))[1]
    with time_machine.travel(START + datetime.timedelta(hours=3), tick=False):
        response = Client().get(link.removeprefix("https://kizuki.example.co.jp"))
    assert response.status_code == 302
    assert response["Location"].startswith("https://www.example.co.jp/docs/a")

    # then nothing more happens before the wait of two days ends …
    run_dispatch(START + datetime.timedelta(days=2, seconds=-1))
    assert len(received(smtp_settings)) == 2
    # … and at its end the clicker gets the case study, the other the reminder
    run_dispatch(START + datetime.timedelta(days=2))
    run_dispatch(START + datetime.timedelta(days=2, minutes=1))  # a second tick sends nothing
    subjects = {(m["To"], m["Subject"]) for m in received(smtp_settings)[2:]}
    assert subjects == {(clicker.email, "導入事例"), (idle.email, "資料Aはご覧に?")}
    assert len(received(smtp_settings)) == 4

    paths = dict(ScenarioEnrollment.objects.values_list("lead_id", "path"))
    assert paths[clicker.pk] == ["mail1", "wait2d", "clicked", "case"]
    assert paths[idle.pk] == ["mail1", "wait2d", "clicked", "nudge"]
    assert set(ScenarioEnrollment.objects.values_list("state", flat=True)) == {"completed"}
    assert Send.objects.filter(kind="scenario", state="sent").count() == 4
