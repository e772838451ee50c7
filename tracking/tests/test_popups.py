"""Popup rules: visits within days, pages viewed, snooze after closing, conversion."""

import datetime
import json

import pytest
import time_machine
from django.utils import timezone

from tracking.models import Popup, Visit, Visitor

NOW = datetime.datetime(2026, 11, 20, 3, 0, tzinfo=datetime.UTC)


def decide(client, site, anon="b-1", nv=True, url="https://www.example.co.jp/"):
    response = client.generic(
        "POST", "/t/decide",
        json.dumps({"site": site.key, "visitor": anon, "nv": nv, "url": url, "slots": []}),
        content_type="text/plain", HTTP_ORIGIN="https://www.example.co.jp",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    return response.json()["popup"]


def visits(visitor, *days_ago):
    for days in days_ago:
        moment = timezone.now() - datetime.timedelta(days=days)
        Visit.objects.create(visitor=visitor, started_at=moment, last_event_at=moment)


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_third_visit_within_five_days_shows_then_snoozes(client, site):
    Popup.objects.create(name="資料請求", min_visits=3, within_days=5, title_ja="資料請求はこちら",
                         snooze_days=7)  # fmt: skip
    visitor = Visitor.objects.create(site=site, anon_id="b-1")
    visits(visitor, 6)  # outside the window
    visits(visitor, 4)
    assert decide(client, site) is None  # 1 in window + this one = 2
    visits(visitor, 1)
    popup = decide(client, site)
    assert popup and "資料請求はこちら" in popup["html"]
    client.generic("POST", "/t/popup", json.dumps(
        {"site": site.key, "visitor": "b-1", "popup": popup["id"], "action": "closed"}),
        content_type="text/plain", HTTP_ORIGIN="https://www.example.co.jp")  # fmt: skip
    assert decide(client, site) is None
    with time_machine.travel(NOW + datetime.timedelta(days=7), tick=False):
        visits(visitor, 1, 2)
        assert decide(client, site) is not None


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_pages_each_viewed_twice_and_conversion_ends_it(client, site):
    from tracking import writer

    Popup.objects.create(name="ウェビナー", page_patterns=["/faq", "/pricing"], page_views_each=2,
                         within_days=30, title_ja="ウェビナー")  # fmt: skip
    writer.write_batch([
        {"uid": f"00000000-0000-4000-8000-0000000000{i:02d}", "type": "page_view",
         "occurred_at": (NOW - datetime.timedelta(hours=i)).isoformat(), "site_id": site.pk,
         "anon_id": "b-2", "url": f"https://www.example.co.jp{path}", "properties": {}}
        for i, path in enumerate(["/faq", "/faq", "/pricing"], start=1)
    ])  # fmt: skip
    assert decide(client, site, anon="b-2", url="https://www.example.co.jp/about") is None
    popup = decide(client, site, anon="b-2", url="https://www.example.co.jp/pricing")
    assert popup is not None
    client.generic("POST", "/t/popup", json.dumps(
        {"site": site.key, "visitor": "b-2", "popup": popup["id"], "action": "converted"}),
        content_type="text/plain", HTTP_ORIGIN="https://www.example.co.jp")  # fmt: skip
    assert decide(client, site, anon="b-2", url="https://www.example.co.jp/pricing") is None


@pytest.mark.django_db
def test_decide_refuses_unknown_sites_and_origins(client, site):
    body = json.dumps({"site": site.key, "visitor": "v"})
    response = client.generic(
        "POST", "/t/decide", body, content_type="text/plain", HTTP_ORIGIN="https://evil.example"
    )
    assert response.status_code == 403
