"""Stats per template, scenario step, scenario and newsletter: sent,
delivered, unique opens and clicks, click rate, unsubscribes, bounces and
clicks per link — from the sends, the open pixel and tracked-link events,
bounces and unsubscriptions (each charged to the lead's latest mail)."""

import datetime
import re
import zoneinfo

import pytest
import time_machine
from django.test import Client

from scenarios import links
from scenarios.engine import scenario_enroll
from scenarios.models import Send
from scenarios.selectors import mail_link_clicks, mail_stats_one
from scenarios.services import bounce_record, lead_unsubscribe, newsletter_schedule

from .conftest import (
    consenting_lead,
    html_part,
    make_scenario,
    newsletter_to,
    received,
    run_dispatch,
)

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
T = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=TOKYO)
HOUR = datetime.timedelta(hours=1)
DOCS, CASE = (
    "https://www.example.co.jp/docs/a?utm_source=mail&x=1",
    "https://www.example.co.jp/case",
)


def local(url: str) -> str:
    return url.removeprefix("https://kizuki.example.co.jp")


@pytest.mark.django_db(transaction=True)
def test_stats_count_what_readers_did(profile, template, smtp_settings, marketer_api):
    # given a scenario mail to three leads, and a newsletter (same template) to the first
    reader, opener, bouncer = consenting_lead(), consenting_lead(), consenting_lead()
    scenario = make_scenario(
        "統計", [{"key": "m1", "kind": "send_email", "config": {"template": template.pk}}]
    )
    with time_machine.travel(T, tick=False):
        scenario_enroll(scenario=scenario, lead_ids=[reader.pk, opener.pk, bouncer.pk])
    run_dispatch(T)
    newsletter = newsletter_to([reader], template)
    with time_machine.travel(T + HOUR, tick=False):
        newsletter_schedule(newsletter=newsletter)
    run_dispatch(T + HOUR)
    assert len(received(smtp_settings)) == 4

    # when the reader opens their scenario mail and clicks its links (the first twice),
    scenario_mail = {m["To"]: m for m in received(smtp_settings)[:3]}
    hrefs = re.findall(
        r'href="(https://kizuki[^"]+/m/c/[^"]+)"', html_part(scenario_mail[reader.email])
    )
    send = Send.objects.get(lead=reader, kind="scenario")
    client = Client()
    with time_machine.travel(T + 2 * HOUR, tick=False):
        client.get(local(links.open_url(send.pk)))
        for href in (hrefs[0], hrefs[0], hrefs[1]):
            assert client.get(local(href)).status_code == 302
        # the second only opens (twice), then unsubscribes; the third bounces
        opener_send = Send.objects.get(lead=opener, kind="scenario")
        client.get(local(links.open_url(opener_send.pk)))
        client.get(local(links.open_url(opener_send.pk)))
    with time_machine.travel(T + 3 * HOUR, tick=False):
        bounce_record(email=bouncer.email, kind="hard", esp_event_id="esp-1")
        lead_unsubscribe(lead=opener, channel="email")

    # then
    step = scenario.steps.get()
    expected_scenario = {
        "sent": 3, "delivered": 2, "unique_opens": 2, "unique_clicks": 1, "click_rate": 0.5,
        "unsubscribes": 1, "bounces": 1,
    }  # fmt: skip
    assert mail_stats_one(by="scenario", id=scenario.pk) == expected_scenario
    assert mail_stats_one(by="step", id=step.pk) == expected_scenario
    assert mail_stats_one(by="template", id=template.pk) == {
        **expected_scenario,
        "sent": 4,
        "delivered": 3,
        "click_rate": 0.3333,
    }
    assert mail_stats_one(by="newsletter", id=newsletter.pk) == {
        "sent": 1, "delivered": 1, "unique_opens": 0, "unique_clicks": 0, "click_rate": 0.0,
        "unsubscribes": 0, "bounces": 0,
    }  # fmt: skip
    assert mail_link_clicks(by="scenario", id=scenario.pk) == [
        {"url": DOCS, "clicks": 2, "unique": 1},
        {"url": CASE, "clicks": 1, "unique": 1},
    ]

    # and the API and admin show the same numbers
    response = marketer_api.get(f"/api/v1/scenarios/{scenario.pk}/stats/")
    assert response.status_code == 200
    body = response.json()
    assert body["unique_clicks"] == 1 and body["steps"]["m1"]["sent"] == 3
    assert body["links"][0] == {"url": DOCS, "clicks": 2, "unique": 1}
    response = marketer_api.get(f"/api/v1/mail-stats/?by=template&id={template.pk}")
    assert response.json()["sent"] == 4
    assert marketer_api.get("/api/v1/mail-stats/?by=nope&id=1").status_code == 400
