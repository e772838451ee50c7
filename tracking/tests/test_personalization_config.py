"""Marketers configure popups and personalized slots in the admin and over the
API; what they configure is what the decision endpoint serves."""

import datetime
import json

import pytest
from django.utils import timezone

from tracking.models import Popup, Slot, Visit, Visitor


def decide(client, site, anon="b-1", slots=()):
    response = client.generic(
        "POST", "/t/decide",
        json.dumps({"site": site.key, "visitor": anon, "nv": True,
                    "url": "https://www.example.co.jp/", "slots": list(slots)}),
        content_type="text/plain", HTTP_ORIGIN="https://www.example.co.jp",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
def test_popup_made_over_the_api_is_served_after_three_visits(marketer_api, client, site):
    created = marketer_api.post("/api/v1/popups/", {
        "name": "資料請求ポップアップ", "site": site.pk, "min_visits": 3, "within_days": 5,
        "title_ja": "資料はこちら", "cta_label_ja": "ダウンロード",
        "cta_url": "https://www.example.co.jp/docs",
    }, format="json")  # fmt: skip
    assert created.status_code == 201, created.json()
    popup_id = created.json()["id"]
    visitor = Visitor.objects.create(site=site, anon_id="b-1")
    for days in (1, 2):
        moment = timezone.now() - datetime.timedelta(days=days)
        Visit.objects.create(visitor=visitor, started_at=moment, last_event_at=moment)
    assert decide(client, site)["popup"]["id"] == popup_id  # this is the third visit

    changed = marketer_api.patch(f"/api/v1/popups/{popup_id}/", {"is_active": False},
                                 format="json")  # fmt: skip
    assert changed.status_code == 200
    assert decide(client, site, anon="b-2")["popup"] is None
    bad = marketer_api.post("/api/v1/popups/", {"name": "x", "audience": "robots"}, format="json")
    assert bad.status_code == 400 and "audience" in bad.json()["error"]["fields"]
    assert marketer_api.delete(f"/api/v1/popups/{popup_id}/").status_code == 204


@pytest.mark.django_db
def test_slot_with_variants_over_the_api(marketer_api, sales_api, client, site):
    body = {"name": "hero", "variants": [
        {"rule": "first_visit", "html_ja": "<p>はじめまして</p>", "position": 0},
        {"rule": "returning", "html_ja": "<p>おかえりなさい</p>", "position": 1},
    ]}  # fmt: skip
    assert sales_api.post("/api/v1/slots/", body, format="json").status_code == 403
    created = marketer_api.post("/api/v1/slots/", body, format="json")
    assert created.status_code == 201, created.json()
    assert [v["rule"] for v in created.json()["variants"]] == ["first_visit", "returning"]
    assert "はじめまして" in json.dumps(decide(client, site, slots=["hero"]), ensure_ascii=False)
    no_segment = {"name": "x", "variants": [{"rule": "segment", "html_ja": "<p>x</p>"}]}
    refused = marketer_api.post("/api/v1/slots/", no_segment, format="json")
    assert refused.status_code == 400 and Slot.objects.count() == 1


@pytest.mark.django_db
def test_marketer_configures_popups_and_slots_in_the_admin(admin_client, site):
    assert admin_client.get("/admin/tracking/popup/add/").status_code == 200
    response = admin_client.post("/admin/tracking/popup/add/", {
        "name": "ウェビナー案内", "site": str(site.pk), "is_active": "on", "priority": "0",
        "audience": "anyone", "min_visits": "0", "page_patterns": "/faq,/pricing",
        "page_views_each": "2", "within_days": "30", "snooze_days": "7",
        "title_ja": "ウェビナーのご案内", "title_en": "", "body_ja": "", "body_en": "",
        "cta_label_ja": "申し込む", "cta_label_en": "", "cta_url": "",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Popup.objects.get().page_patterns == ["/faq", "/pricing"]
    response = admin_client.post("/admin/tracking/slot/add/", {
        "name": "hero", "description": "",
        "variants-TOTAL_FORMS": "1", "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0", "variants-MAX_NUM_FORMS": "1000",
        "variants-0-rule": "returning", "variants-0-html_ja": "<p>おかえりなさい</p>",
        "variants-0-html_en": "", "variants-0-position": "0",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Slot.objects.get().variants.get().rule == "returning"
