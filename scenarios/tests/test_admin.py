"""Marketers configure mail in the admin: a broken template is a message on
the form, the preview shows the mail as a chosen lead, a test goes to the
given address, and a newsletter's page shows its status counts."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from leads.tests.factories import LeadFactory, UserFactory
from scenarios.models import EmailTemplate, SenderProfile
from scenarios.sending import sends_dispatch
from scenarios.services import newsletter_schedule, newsletters_materialize_due

from .conftest import consenting_lead, newsletter_to, received


@pytest.fixture
def marketer_client(client, db):
    user = UserFactory(username="mail-marketer")
    user.groups.add(Group.objects.get(name="Marketer"))
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_a_template_with_a_syntax_error_is_refused_with_a_message(marketer_client):
    response = marketer_client.post(
        reverse("admin:scenarios_emailtemplate_add"),
        {"name": "壊れた", "subject": "{{ lead.last_name }} 様", "preheader": "",
         "html_body": "<p>{% if lead.company %}御中</p>", "created_at_0": "2026-03-02",
         "created_at_1": "10:00:00"},
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    assert response.status_code == 200
    assert "Template syntax error on line 1" in response.content.decode()
    assert not EmailTemplate.objects.exists()


@pytest.mark.django_db
def test_preview_as_a_lead_and_test_send(marketer_client, profile, template, smtp_settings):
    lead = LeadFactory(last_name="鈴木", company_name="株式会社アクメ")
    url = reverse("admin:scenarios_emailtemplate_preview", args=[template.pk])

    page = marketer_client.get(url, {"lead": lead.email}).content.decode()
    assert "株式会社アクメ 鈴木 様へ: 資料Aのご案内" in page

    response = marketer_client.post(f"{url}?lead={lead.pk}", {"to": "me@kizuki.example.co.jp"})
    assert response.status_code == 302
    [message] = received(smtp_settings)
    assert message["To"] == "me@kizuki.example.co.jp"
    assert "株式会社アクメ 鈴木 様へ" in str(message["Subject"])

    bad = marketer_client.post(url, {"to": "nobody"})
    assert bad.status_code == 200
    assert len(received(smtp_settings)) == 1


@pytest.mark.django_db
def test_only_one_sender_profile(marketer_client, profile):
    response = marketer_client.get(reverse("admin:scenarios_senderprofile_add"))
    assert response.status_code == 403
    assert SenderProfile.objects.count() == 1


@pytest.mark.django_db
def test_newsletter_page_shows_status_counts(marketer_client, profile, template, smtp_settings):
    leads = [consenting_lead(), consenting_lead(), LeadFactory()]
    newsletter = newsletter_to(leads, template)
    newsletter_schedule(newsletter=newsletter)
    newsletters_materialize_due()
    sends_dispatch()

    page = marketer_client.get(
        reverse("admin:scenarios_newsletter_change", args=[newsletter.pk]),
        HTTP_ACCEPT_LANGUAGE="en",
    ).content.decode()
    assert "<th>sent</th><td>2</td>" in page
    assert "<th>not sent</th><td>1</td>" in page
    assert "No consent to marketing mail is recorded." in page
    listing = marketer_client.get(reverse("admin:scenarios_newsletter_changelist")).content
    assert b"<progress" in listing
