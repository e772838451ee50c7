"""The mail API: marketers configure templates, windows, the sender profile and
newsletters; bad input is a 4xx in the error shape; other roles may not."""

import pytest

from leads.tests.factories import LeadFactory
from scenarios.models import EmailTemplate, Newsletter

from .conftest import received


@pytest.mark.django_db
def test_marketer_creates_a_template_and_a_syntax_error_is_a_400(marketer_api):
    good = marketer_api.post(
        "/api/v1/email-templates/",
        {"name": "案内", "subject": "{{ lead.last_name }} 様", "html_body": "<p>本文</p>"},
        format="json",
    )
    assert good.status_code == 201, good.json()

    bad = marketer_api.post(
        "/api/v1/email-templates/",
        {"name": "壊れた", "subject": "件名", "html_body": "<p>{{ lead.last_name </p>"},
        format="json",
    )
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["code"] == "invalid"
    assert "構文エラー" in error["fields"]["html_body"][0]
    assert EmailTemplate.objects.count() == 1

    unknown = marketer_api.patch(
        f"/api/v1/email-templates/{good.json()['id']}/",
        {"subject": "{{ lead.nickname }}"},
        format="json",
    )
    assert unknown.status_code == 400
    assert "subject" in unknown.json()["error"]["fields"]


@pytest.mark.django_db
def test_other_roles_may_not_configure_mail(sales_api, inside_api):
    for client in (sales_api, inside_api):
        assert client.get("/api/v1/email-templates/").status_code == 403
        response = client.post(
            "/api/v1/email-templates/",
            {"name": "x", "subject": "x", "html_body": "x"},
            format="json",
        )
        assert response.status_code == 403
        assert "error" in response.json()


@pytest.mark.django_db
def test_sender_profile_and_send_windows(marketer_api):
    assert marketer_api.get("/api/v1/sender-profile/").status_code == 404
    created = marketer_api.put(
        "/api/v1/sender-profile/",
        {"from_name": "キヅキ", "from_email": "news@kizuki.example.co.jp",
         "postal_address": "東京都千代田区1-1", "contact": "03-1234-5678"},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    changed = marketer_api.put("/api/v1/sender-profile/", {"weekly_cap": 3}, format="json")
    assert changed.json()["weekly_cap"] == 3

    window = marketer_api.post(
        "/api/v1/send-windows/",
        {"name": "平日", "weekdays": [4, 0, 1], "start_time": "09:00", "end_time": "18:00"},
        format="json",
    )
    assert window.status_code == 201, window.json()
    assert window.json()["weekdays"] == [0, 1, 4]
    bad = marketer_api.post(
        "/api/v1/send-windows/",
        {"name": "逆", "weekdays": [7], "start_time": "18:00", "end_time": "09:00",
         "time_zone": "Mars/Olympus"},
        format="json",
    )  # fmt: skip
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"weekdays", "end_time", "time_zone"}


@pytest.mark.django_db
def test_newsletter_to_an_empty_list_is_refused(marketer_api, profile, template):
    from leads.models import StaticList

    empty = StaticList.objects.create(name="空")
    draft = marketer_api.post(
        "/api/v1/newsletters/",
        {"name": "3月号", "template": template.pk, "static_list": empty.pk},
        format="json",
    )
    assert draft.status_code == 201, draft.json()
    scheduled = marketer_api.post(f"/api/v1/newsletters/{draft.json()['id']}/schedule/", {})
    assert scheduled.status_code == 400
    assert "リードがいない" in scheduled.json()["error"]["message"]
    assert Newsletter.objects.get().state == "draft"

    neither = marketer_api.post(
        "/api/v1/newsletters/", {"name": "x", "template": template.pk}, format="json"
    )
    assert neither.status_code == 400
    assert "segment" in neither.json()["error"]["fields"]
    assert marketer_api.get("/api/v1/sends/?newsletter=abc").status_code == 400


@pytest.mark.django_db
def test_preview_as_a_lead_and_test_send(marketer_api, profile, template, smtp_settings):
    lead = LeadFactory(last_name="鈴木", company_name="株式会社アクメ")
    preview = marketer_api.post(
        f"/api/v1/email-templates/{template.pk}/preview/", {"lead": lead.pk}, format="json"
    )
    assert preview.status_code == 200
    assert preview.json()["subject"] == "株式会社アクメ 鈴木 様へ: 資料Aのご案内"
    assert "東京都千代田区千代田1-1" in preview.json()["text"]

    sent = marketer_api.post(
        f"/api/v1/email-templates/{template.pk}/test-send/",
        {"to": "me@kizuki.example.co.jp", "lead": lead.pk},
        format="json",
    )
    assert sent.status_code == 202
    [message] = received(smtp_settings)
    assert message["To"] == "me@kizuki.example.co.jp"
    assert message["Subject"].strip().startswith("[TEST] 株式会社アクメ 鈴木 様へ")

    bad = marketer_api.post(
        f"/api/v1/email-templates/{template.pk}/test-send/", {"to": "not-an-address"}
    )
    assert bad.status_code == 400


@pytest.mark.django_db
def test_step_sequence_with_steps_and_enroll(marketer_api, template):
    lead = LeadFactory()
    created = marketer_api.post(
        "/api/v1/step-sequences/",
        {"name": "資料Aフォロー", "trigger": "tag_added", "trigger_tag": None, "steps": []},
        format="json",
    )
    assert created.status_code == 400
    assert "trigger_tag" in created.json()["error"]["fields"]

    from leads.models import Tag

    Tag.objects.create(name="資料A")
    created = marketer_api.post(
        "/api/v1/step-sequences/",
        {"name": "資料Aフォロー", "trigger": "tag_added", "trigger_tag": "資料A",
         "exit_tag": None,
         "steps": [{"position": 0, "day_offset": 0, "send_time": "10:00", "template": template.pk},
                   {"position": 1, "day_offset": 1, "send_time": "10:00",
                    "template": template.pk}]},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    assert [s["day_offset"] for s in created.json()["steps"]] == [0, 1]

    enrolled = marketer_api.post(
        f"/api/v1/step-sequences/{created.json()['id']}/enroll/",
        {"leads": [lead.pk, 999999]},
        format="json",
    )
    assert enrolled.json() == {"enrolled": 1, "unknown_leads": [999999]}
    assert marketer_api.get("/api/v1/enrollments/").json()["results"][0]["lead"] == lead.pk
