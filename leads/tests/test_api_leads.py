"""The leads API: upsert 201/200, reads, tags, activities, errors as JSON 400."""

import pytest

from leads.models import Lead, TagChange


def test_upsert_answers_201_then_200_with_the_lead(marketer_api):
    body = {
        "email": "Hanako.Sato@Sample.co.jp",
        "last_name": "佐藤",
        "first_name": "花子",
        "company": "株式会社サンプル",
        "phone": "03-1234-5678",
        "tags": ["展示会2026"],
    }
    created = marketer_api.post("/api/v1/leads/", body, format="json")
    assert created.status_code == 201, created.json()
    lead = created.json()
    assert lead["email"] == "hanako.sato@sample.co.jp"
    assert lead["company"] == "株式会社サンプル"
    assert lead["tags"] == ["展示会2026"]
    assert lead["rank"] == "COLD" and lead["score"] == 0 and lead["stage"] == "awareness"
    updated = marketer_api.post(
        "/api/v1/leads/", {"email": "HANAKO.SATO@sample.co.jp", "title": "部長"}, format="json"
    )
    assert updated.status_code == 200
    assert updated.json()["id"] == lead["id"]
    assert updated.json()["title"] == "部長"
    got = marketer_api.get(f"/api/v1/leads/{lead['id']}/").json()
    assert {k: got[k] for k in ("email", "title", "rank", "tags")} == {
        "email": "hanako.sato@sample.co.jp",
        "title": "部長",
        "rank": "COLD",
        "tags": ["展示会2026"],
    }


def test_validation_errors_are_json_400_naming_the_fields(marketer_api):
    response = marketer_api.post(
        "/api/v1/leads/",
        {"email": "not-an-email", "employee_count": "many", "tags": "x"},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "tags" in error["fields"]
    response = marketer_api.post(
        "/api/v1/leads/", {"email": "not-an-email", "employee_count": "many"}, format="json"
    )
    assert set(response.json()["error"]["fields"]) == {"email", "employee_count"}
    assert Lead.objects.count() == 0


@pytest.mark.parametrize("body", ["[]", "null", '"text"', "{bad json"])
def test_malformed_bodies_are_400_not_500(marketer_api, body):
    response = marketer_api.generic("POST", "/api/v1/leads/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_tags_add_and_remove(marketer_api):
    lead_id = marketer_api.post("/api/v1/leads/", {"email": "t@x.co.jp"}, format="json").json()[
        "id"
    ]
    response = marketer_api.post(
        f"/api/v1/leads/{lead_id}/tags/", {"add": ["失注", "資料請求"]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["tags"] == ["失注", "資料請求"]
    response = marketer_api.post(
        f"/api/v1/leads/{lead_id}/tags/", {"remove": ["失注"]}, format="json"
    )
    assert response.json()["tags"] == ["資料請求"]
    assert response.json()["changed"] == {"added": [], "removed": ["失注"]}
    assert TagChange.objects.filter(lead_id=lead_id, actor_kind="api").count() == 3
    bad = marketer_api.post(f"/api/v1/leads/{lead_id}/tags/", {"add": "失注"}, format="json")
    assert bad.status_code == 400


def test_activities_are_logged_and_listed_newest_first(inside_api):
    lead = Lead.objects.create(email="a@x.co.jp")
    for day, result in (("2026-11-20T10:00:00+09:00", "continue"),
                        ("2026-11-21T15:30:00+09:00", "opportunity")):  # fmt: skip
        response = inside_api.post(
            f"/api/v1/leads/{lead.pk}/activities/",
            {"occurred_at": day, "type": "phone", "content": "架電", "result": result,
             "source": "hot_list"},
            format="json",
        )  # fmt: skip
        assert response.status_code == 201, response.json()
    listed = inside_api.get(f"/api/v1/leads/{lead.pk}/activities/").json()["results"]
    assert [a["result"] for a in listed] == ["opportunity", "continue"]
    assert listed[0]["actor"]["username"] == "api-inside"
    bad = inside_api.post(
        f"/api/v1/leads/{lead.pk}/activities/", {"type": "fax", "result": "won"}, format="json"
    )
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"type", "result"}
    missing = inside_api.post("/api/v1/leads/999999/activities/", {}, format="json")
    assert missing.status_code == 404


def test_list_filters_and_cursor_pagination(marketer_api):
    for i in range(5):
        marketer_api.post(
            "/api/v1/leads/",
            {"email": f"p{i}@x.co.jp", "tags": ["展示会"] if i % 2 == 0 else []},
            format="json",
        )
    page = marketer_api.get("/api/v1/leads/?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    second = marketer_api.get(page["next"]).json()
    assert {r["email"] for r in page["results"]}.isdisjoint({r["email"] for r in second["results"]})
    tagged = marketer_api.get("/api/v1/leads/?tag=展示会").json()["results"]
    assert sorted(r["email"] for r in tagged) == ["p0@x.co.jp", "p2@x.co.jp", "p4@x.co.jp"]
    assert marketer_api.get("/api/v1/leads/?email=P3@X.CO.JP").json()["results"][0]["email"] == (
        "p3@x.co.jp"
    )
    assert marketer_api.get("/api/v1/leads/?updated_since=yesterday").status_code == 400


def test_patch_updates_and_refuses_a_taken_email(marketer_api):
    a = marketer_api.post("/api/v1/leads/", {"email": "a@x.co.jp"}, format="json").json()
    marketer_api.post("/api/v1/leads/", {"email": "b@x.co.jp"}, format="json")
    response = marketer_api.patch(
        f"/api/v1/leads/{a['id']}/", {"title": "課長", "email": "A2@x.co.jp"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["email"] == "a2@x.co.jp" and response.json()["title"] == "課長"
    taken = marketer_api.patch(f"/api/v1/leads/{a['id']}/", {"email": "b@x.co.jp"}, format="json")
    assert taken.status_code == 400
    assert "email" in taken.json()["error"]["fields"]


def test_sales_rep_reads_but_cannot_write_leads_or_custom_fields(sales_api):
    assert sales_api.get("/api/v1/leads/").status_code == 200
    assert sales_api.post("/api/v1/leads/", {"email": "s@x.co.jp"}, format="json").status_code == (
        403
    )
    response = sales_api.post(
        "/api/v1/custom-fields/",
        {"key": "budget", "label": "予算", "type": "number"},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_marketer_defines_custom_fields_with_checked_choices(marketer_api):
    ok = marketer_api.post(
        "/api/v1/custom-fields/",
        {"key": "plan", "label": "プラン", "type": "choice", "choices": ["A", "B"]},
        format="json",
    )
    assert ok.status_code == 201
    bad = marketer_api.post(
        "/api/v1/custom-fields/",
        {"key": "plan2", "label": "プラン2", "type": "choice", "choices": []},
        format="json",
    )
    assert bad.status_code == 400 and "choices" in bad.json()["error"]["fields"]
    lead = marketer_api.post(
        "/api/v1/leads/", {"email": "c@x.co.jp", "custom": {"plan": "C"}}, format="json"
    )
    assert lead.status_code == 400
    assert "custom.plan" in lead.json()["error"]["fields"]


def test_lists_and_members(marketer_api):
    ids = [
        marketer_api.post("/api/v1/leads/", {"email": f"m{i}@x.co.jp"}, format="json").json()["id"]
        for i in range(3)
    ]
    static_list = marketer_api.post("/api/v1/lists/", {"name": "展示会フォロー"}, format="json")
    assert static_list.status_code == 201
    list_id = static_list.json()["id"]
    changed = marketer_api.post(
        f"/api/v1/lists/{list_id}/members/", {"add": ids, "remove": []}, format="json"
    )
    assert changed.json() == {"added": 3, "removed": 0}
    marketer_api.post(f"/api/v1/lists/{list_id}/members/", {"remove": ids[:1]}, format="json")
    members = marketer_api.get(f"/api/v1/lists/{list_id}/members/").json()
    assert members["count"] == 2
    assert sorted(m["id"] for m in members["results"]) == sorted(ids[1:])
    bad = marketer_api.post(f"/api/v1/lists/{list_id}/members/", {"add": [999999]}, format="json")
    assert bad.status_code == 400


def test_the_schema_documents_the_leads_api(marketer_api):
    schema = marketer_api.get("/api/schema/").content.decode()
    for path in ("/api/v1/leads/", "/api/v1/leads/{id}/tags/", "/api/v1/segments/{id}/leads/",
                 "/api/v1/leads/{lead_pk}/activities/", "/api/v1/custom-fields/"):  # fmt: skip
        assert path in schema, path


def test_consents_and_suppressions(marketer_api):
    lead_id = marketer_api.post("/api/v1/leads/", {"email": "c@x.co.jp"}, format="json").json()[
        "id"
    ]
    consent = marketer_api.post(
        f"/api/v1/leads/{lead_id}/consents/",
        {"basis": "manual", "source_ref": "電話で確認", "text_shown": "メルマガを送ってよいか"},
        format="json",
    )
    assert consent.status_code == 201
    assert marketer_api.get(f"/api/v1/leads/{lead_id}/consents/").json()[0]["basis"] == "manual"
    bad = marketer_api.post(
        f"/api/v1/leads/{lead_id}/consents/", {"basis": "telepathy"}, format="json"
    )
    assert bad.status_code == 400 and "basis" in bad.json()["error"]["fields"]
    suppression = marketer_api.post(
        f"/api/v1/leads/{lead_id}/suppressions/",
        {"channel": "newsletter", "reason": "manual", "detail": "本人希望"},
        format="json",
    ).json()
    lifted = marketer_api.post(
        f"/api/v1/leads/{lead_id}/suppressions/{suppression['id']}/lift/", format="json"
    )
    assert lifted.status_code == 200 and lifted.json()["lifted_at"]


def test_a_sales_rep_reads_only_their_own_leads(sales_api, marketer_api):
    mine = Lead.objects.create(email="mine@x.co.jp", owner=sales_api.user)
    Lead.objects.create(email="theirs@x.co.jp")
    listed = sales_api.get("/api/v1/leads/").json()["results"]
    assert [lead["email"] for lead in listed] == ["mine@x.co.jp"]
    assert sales_api.get(f"/api/v1/leads/{mine.pk}/").status_code == 200
    other = Lead.objects.get(email="theirs@x.co.jp")
    assert sales_api.get(f"/api/v1/leads/{other.pk}/").status_code == 404
    assert len(marketer_api.get("/api/v1/leads/").json()["results"]) == 2


def test_half_a_surrogate_pair_is_a_json_400_not_a_500(marketer_api):
    # "\ud83d" is valid JSON but no character: PostgreSQL could not store it
    body = '{"email": "emoji@sample.co.jp", "last_name": "佐藤\\ud83d"}'
    response = marketer_api.post("/api/v1/leads/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert "U+D800" in response.json()["error"]["message"]
    assert not Lead.objects.filter(email="emoji@sample.co.jp").exists()
