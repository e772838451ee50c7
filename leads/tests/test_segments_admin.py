"""The segment admin: live count endpoint, change page count and preview,
validation messages on the form, and the materialize action."""

import json

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.models import Segment, StaticList
from leads.segments import check_segment, describe_blocks
from leads.services import tags_change
from leads.tests.factories import LeadFactory, UserFactory

LOST = {"1": {"kind": "tag", "op": "has", "value": "失注"}}


@pytest.fixture(autouse=True)
def _english_pages(settings):
    # These tests read the admin's English messages; pages default to Japanese.
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def marketer(db):
    user = UserFactory(username="marketer")
    user.groups.add(Group.objects.get(name="Marketer"))
    return user


@pytest.fixture
def lost_leads(db):
    leads = [
        LeadFactory(email=f"lost{i}@example.jp", last_name="失注", first_name=f"{i}")
        for i in range(3)
    ]
    for lead in leads:
        tags_change(lead=lead, add=["失注"], actor_kind="sfa")
    LeadFactory(email="other@example.jp")
    return leads


def live_count(client, body) -> tuple[int, dict]:
    response = client.post(
        reverse("admin:leads_segment_live_count"),
        json.dumps(body),
        content_type="application/json",
    )
    return response.status_code, response.json()


def test_live_count_answers_count_preview_and_readable_blocks(client, marketer, lost_leads):
    client.force_login(marketer)
    status, body = live_count(client, {"expression": "1", "blocks": LOST})
    assert status == 200
    assert body["count"] == 3
    assert [lead["email"] for lead in body["preview"]] == [
        "lost2@example.jp",
        "lost1@example.jp",
        "lost0@example.jp",
    ]
    assert body["blocks"] == [["1", "has tag “失注”"]]


def test_live_count_errors_are_400_with_fields(client, marketer):
    client.force_login(marketer)
    status, body = live_count(client, {"expression": "(1 AND 4", "blocks": LOST})
    assert status == 400
    error = body["error"]
    assert error["code"] == "invalid"
    assert "unbalanced parenthesis at 1" in error["message"]
    assert list(error["fields"]) == ["expression"]
    status, body = live_count(
        client, {"expression": "1", "blocks": {"1": {"kind": "tag", "op": "hass", "value": "x"}}}
    )
    assert status == 400
    assert list(body["error"]["fields"]) == ["blocks.1.op"]
    assert body["error"]["messages"][0].startswith("Block 1, op: ")
    response = client.post(
        reverse("admin:leads_segment_live_count"), "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_live_count_needs_staff_and_the_view_permission(client, db):
    url = reverse("admin:leads_segment_live_count")
    body = json.dumps({"expression": "1", "blocks": LOST})
    # not logged in: the admin login page
    assert client.post(url, body, content_type="application/json").status_code == 302
    # staff without permissions: 403
    client.force_login(UserFactory(username="staff-without-role"))
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_change_page_shows_count_preview_and_readable_blocks(client, marketer, lost_leads):
    segment = Segment.objects.create(name="失注リード", expression="1", blocks=LOST)
    client.force_login(marketer)
    response = client.get(reverse("admin:leads_segment_change", args=[segment.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<strong class="segment-count">3</strong>' in html
    for lead in lost_leads:
        assert lead.email in html
    assert "other@example.jp" not in html
    assert "has tag “失注”" in html
    assert reverse("admin:leads_segment_live_count") in html  # the live count script's address


def test_changelist_does_not_run_the_searches(client, marketer, lost_leads):
    for i in range(5):
        Segment.objects.create(name=f"セグメント{i}", expression="1", blocks=LOST)
    client.force_login(marketer)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("admin:leads_segment_changelist"))
    assert response.status_code == 200
    assert "セグメント4" in response.content.decode()
    assert not [q for q in captured.captured_queries if 'FROM "leads_lead"' in q["sql"]]


def test_the_form_shows_expression_and_block_errors_and_saves_cleaned_blocks(client, marketer):
    client.force_login(marketer)
    url = reverse("admin:leads_segment_add")
    assert "Kinds of block and their parameters" in client.get(url).content.decode()
    blocks = {"1": {"kind": "attribute", "field": "employee_count", "op": ">=", "value": "１００"}}
    response = client.post(
        url, {"name": "大企業", "expression": "1 AND 4", "blocks": json.dumps(blocks)}
    )
    assert response.status_code == 200
    assert "block 4 is not defined" in response.content.decode()
    assert not Segment.objects.filter(is_preset=False).exists()
    response = client.post(
        url,
        {
            "name": "大企業",
            "expression": "1",
            "blocks": json.dumps({"1": {**blocks["1"], "op": "has"}}),
        },
    )
    assert "Block 1, op: “has” does not apply to employees" in response.content.decode()
    response = client.post(url, {"name": "大企業", "expression": "1", "blocks": json.dumps(blocks)})
    assert response.status_code == 302
    segment = Segment.objects.get(name="大企業")
    assert segment.blocks == {
        "1": {"kind": "attribute", "field": "employee_count", "op": ">=", "value": 100}
    }
    assert segment.created_by == marketer


def test_materialize_action_saves_a_list_and_links_it(client, marketer, lost_leads):
    segment = Segment.objects.create(name="失注リード", expression="1", blocks=LOST)
    client.force_login(marketer)
    response = client.post(
        reverse("admin:leads_segment_changelist"),
        {"action": "materialize", "_selected_action": [segment.pk]},
        follow=True,
    )
    assert response.status_code == 200
    static_list = StaticList.objects.get(source_segment=segment)
    assert static_list.memberships.count() == 3
    assert static_list.created_by == marketer
    text = response.content.decode()
    assert "Saved 3 leads of “失注リード” as the list" in text
    assert static_list.name in text


def test_blocks_read_as_sentences(db):
    hot = StaticList.objects.create(name="HOTリードリスト")
    lost = Segment.objects.create(name="失注リード", expression="1", blocks=LOST)
    blocks = check_segment(
        "1",
        {
            "1": {"kind": "tag", "op": "has_any", "value": ["失注", "展示会"]},
            "2": {"kind": "activities", "op": ">=", "value": 1, "within_days": 30,
                  "type": ["phone", "visit"]},
            "3": {"kind": "attribute", "field": "employee_count", "op": "between",
                  "value": [10, 100]},
            "4": {"kind": "attribute", "field": "is_competitor", "op": "is", "value": False},
            "5": {"kind": "list", "op": "in", "value": hot.pk},
            "10": {"kind": "segment", "op": "not_in", "value": lost.pk},
        },
    )  # fmt: skip
    assert describe_blocks(blocks) == [
        ("1", "has any of the tags “失注”、“展示会”"),
        ("2", "activities >= 1 in the last 30 days · 電話/訪問"),
        ("3", "employees from 10 to 100"),
        ("4", "competitor (競合): no"),
        ("5", "in list “HOTリードリスト”"),
        ("10", "not in segment “失注リード”"),
    ]
