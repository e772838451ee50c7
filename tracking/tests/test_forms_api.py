"""Forms over the API: CRUD with their fields, double opt-in checked like the admin."""

import pytest

from tracking.models import Form


def body(site, **overrides):
    data = {
        "name": "メルマガ登録", "key": "newsletter", "site": site.pk, "title_ja": "メルマガ登録",
        "tags": ["メルマガ"], "consent_tags": ["メルマガ購読"], "double_opt_in": True,
        "double_opt_in_hours": 24,
        "fields": [{"field": "email", "label_ja": "メール", "required": True, "position": 0},
                   {"field": "company", "label_ja": "会社名", "position": 1}],
    }  # fmt: skip
    data.update(overrides)
    return data


@pytest.fixture
def sender_site(site):
    site.sender_name, site.mail_footer_ja = "株式会社キヅキ", "東京都千代田区丸の内1-1-1"
    site.save()
    return site


@pytest.mark.django_db
def test_marketer_creates_and_edits_a_double_opt_in_form(marketer_api, sender_site):
    created = marketer_api.post("/api/v1/forms/", body(sender_site), format="json")
    assert created.status_code == 201, created.json()
    answer = created.json()
    assert answer["double_opt_in"] is True and answer["version"] == 1
    assert [f["field"] for f in answer["fields"]] == ["email", "company"]
    assert answer["hosted_url"].endswith("/f/newsletter/")
    form = Form.objects.get(key="newsletter")
    assert (form.double_opt_in_hours, form.consent_tags) == (24, ["メルマガ購読"])

    changed = marketer_api.patch(
        f"/api/v1/forms/{form.pk}/", {"double_opt_in": False}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["version"] == 2
    assert [f["field"] for f in changed.json()["fields"]] == ["email", "company"]
    assert marketer_api.delete(f"/api/v1/forms/{form.pk}/").status_code == 204


@pytest.mark.django_db
def test_double_opt_in_needs_a_site_that_names_the_sender(marketer_api, site):
    answer = marketer_api.post("/api/v1/forms/", body(site), format="json")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert "送信者名とメールフッター" in error["fields"]["double_opt_in"][0]
    assert not Form.objects.exists()


@pytest.mark.django_db
def test_bad_fields_are_refused_with_the_error_shape(marketer_api, sender_site):
    bad = body(sender_site, fields=[{"field": "shoe_size"}, {"field": "email"},
                                    {"field": "email"}])  # fmt: skip
    answer = marketer_api.post("/api/v1/forms/", bad, format="json")
    assert answer.status_code == 400 and "fields" in answer.json()["error"]["fields"]
    assert not Form.objects.exists()


@pytest.mark.django_db
def test_sales_reps_cannot_change_forms(sales_api, sender_site):
    assert sales_api.post("/api/v1/forms/", body(sender_site), format="json").status_code == 403


@pytest.mark.django_db
def test_admin_refuses_double_opt_in_without_a_sender(admin_client, site):
    from tracking.tests.test_admin_forms import form_post

    post = form_post(site=str(site.pk), double_opt_in="on", double_opt_in_hours="48")
    page = admin_client.post("/admin/tracking/form/add/", post)
    assert page.status_code == 200 and not Form.objects.exists()
    assert "送信者名とメールフッター（会社名・住所・連絡先）" in page.content.decode()
