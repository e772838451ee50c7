"""Marketers build forms in the admin; a change makes a new form version."""

import pytest
from django.contrib.auth.models import Group

from tracking.models import Form


@pytest.fixture
def marketer_client(client, django_user_model):
    user = django_user_model.objects.create_user("mk", password="pw-long-enough-1", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketer"))
    client.force_login(user)
    return client


def form_post(**overrides):
    data = {
        "name": "セミナー申込", "key": "seminar", "is_active": "on",
        "title_ja": "セミナー申込", "title_en": "Seminar", "intro_ja": "", "intro_en": "",
        "submit_label_ja": "申し込む", "submit_label_en": "Apply",
        "consent_text_ja": "同意します", "consent_text_en": "I agree",
        "thanks_ja": "ありがとうございました", "thanks_en": "Thanks", "redirect_url": "",
        "tags": "セミナー参加", "asset_hours": "72", "min_fill_seconds": "3",
        "double_opt_in_hours": "48",
        "fields-TOTAL_FORMS": "2", "fields-INITIAL_FORMS": "0",
        "fields-MIN_NUM_FORMS": "0", "fields-MAX_NUM_FORMS": "1000",
        "fields-0-field": "email", "fields-0-label_ja": "メール", "fields-0-required": "on",
        "fields-0-position": "0",
        "fields-1-field": "company", "fields-1-label_ja": "会社名", "fields-1-position": "1",
    }  # fmt: skip
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_marketer_builds_a_form_and_edits_make_versions(marketer_client):
    response = marketer_client.post("/admin/tracking/form/add/", form_post())
    assert response.status_code == 302, response.content.decode()[:3000]
    form = Form.objects.get(key="seminar")
    assert form.version == 1 and form.tags == ["セミナー参加"]
    assert list(form.fields.values_list("field", flat=True)) == ["email", "company"]
    page = marketer_client.get("/f/seminar/").content.decode()
    assert "会社名" in page and "申し込む" in page
    edit = form_post(**{"consent_text_ja": "新しい同意文", "fields-TOTAL_FORMS": "0"})
    marketer_client.post(f"/admin/tracking/form/{form.pk}/change/", edit)
    form.refresh_from_db()
    assert form.version == 2


@pytest.mark.django_db
def test_site_domains_are_cleaned_in_the_admin_as_in_the_api(marketer_client):
    from tracking.models import Site

    bad = marketer_client.post(
        "/admin/tracking/site/add/", {"name": "x", "domains": "not a host", "is_active": "on"}
    )
    assert bad.status_code == 200 and not Site.objects.exists()
    marketer_client.post(
        "/admin/tracking/site/add/",
        {"name": "採用", "domains": "https://Recruit.example.co.jp/jobs", "is_active": "on"},
    )
    assert Site.objects.get().domains == ["recruit.example.co.jp"]
