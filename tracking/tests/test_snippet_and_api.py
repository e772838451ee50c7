"""The snippet is served small; the events and identify APIs."""

import datetime

import pytest
from django.utils import timezone

from leads.models import Lead
from tracking import writer
from tracking.models import Event, Visitor


@pytest.mark.django_db
def test_snippet_is_served_small_with_the_endpoint(client, site, settings):
    settings.ALLOWED_HOSTS = ["kizuki.example.com", "testserver"]
    response = client.get(f"/t.js?s={site.key}", HTTP_HOST="kizuki.example.com")
    body = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert len(response.content) <= 6 * 1024
    assert '"http://kizuki.example.com"' in body
    assert "respectDnt = false" in body
    site.respect_do_not_track = True
    site.save()
    assert "respectDnt = true" in client.get(f"/t.js?s={site.key}").content.decode()


def test_events_api_records_past_events_for_a_lead(marketer_api):
    lead = Lead.objects.create(email="hanako@example.co.jp")
    past = (timezone.now() - datetime.timedelta(days=20)).isoformat()
    response = marketer_api.post(
        "/api/v1/events/",
        {"email": "Hanako@Example.co.jp", "type": "page_view", "occurred_at": past,
         "url": "https://www.example.co.jp/pricing", "properties": {"source": "import"}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    event = Event.objects.get()
    assert event.lead_id == lead.pk and event.type == "page_view"
    assert event.properties == {"source": "import"}
    listed = marketer_api.get(f"/api/v1/leads/{lead.pk}/events/").json()
    assert listed[0]["url"] == "https://www.example.co.jp/pricing"


def test_events_api_rejects_bad_events_and_keeps_good_ones(marketer_api):
    Lead.objects.create(email="a@example.co.jp")
    future = (timezone.now() + datetime.timedelta(days=2)).isoformat()
    response = marketer_api.post(
        "/api/v1/events/",
        [
            {"email": "a@example.co.jp", "type": "form_submit"},
            {"email": "a@example.co.jp", "type": "teleport"},
            {"email": "nobody@example.co.jp", "type": "page_view"},
            {"email": "a@example.co.jp", "type": "page_view", "occurred_at": future},
            {"email": "a@example.co.jp", "type": "page_view", "occurred_at": "2001-01-01T00:00Z"},
        ],
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 1
    assert set(body["error"]["fields"]) == {"1.type", "2.email", "3.occurred_at", "4.occurred_at"}
    assert Event.objects.count() == 1


def test_identify_api_ties_a_browser_to_a_lead(marketer_api, site):
    writer.write_batch(
        [
            {"uid": "7d4f5f9e-1b5e-4c7a-9a53-7e7d3c1d0a11", "type": "page_view",
             "occurred_at": timezone.now().isoformat(), "site_id": site.pk, "anon_id": "b-1",
             "url": "https://www.example.co.jp/", "properties": {}},
        ]
    )  # fmt: skip
    lead = Lead.objects.create(email="sato@example.co.jp")
    response = marketer_api.post(
        "/api/v1/identify/", {"site": site.key, "visitor": "b-1", "email": "sato@example.co.jp"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json()["events_attributed"] == 1
    assert Visitor.objects.get(anon_id="b-1").lead == lead


def test_sites_api_gives_the_snippet_and_checks_domains(marketer_api):
    response = marketer_api.post(
        "/api/v1/sites/", {"name": "採用サイト", "domains": ["https://recruit.example.co.jp/"]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert body["domains"] == ["recruit.example.co.jp"]
    assert f'data-kizuki-site="{body["key"]}"' in body["snippet"]
    bad = marketer_api.post("/api/v1/sites/", {"name": "x", "domains": ["not a host"]},
                            format="json")  # fmt: skip
    assert bad.status_code == 400
