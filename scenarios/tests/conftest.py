"""Fixtures of the mail tests: a sender profile, templates, consenting leads,
and the Django mail backend pointed at the real SMTP sink."""

from __future__ import annotations

import email
import email.policy

import pytest

from leads.models import Consent, Lead, StaticList
from leads.services import consent_record
from leads.tests.factories import LeadFactory
from scenarios.models import EmailTemplate, Newsletter, SenderProfile


@pytest.fixture
def profile(db) -> SenderProfile:
    return SenderProfile.objects.create(
        from_name="株式会社キヅキ マーケティング部",
        from_email="news@kizuki.example.co.jp",
        postal_address="〒100-0001\n東京都千代田区千代田1-1",
        contact="03-1234-5678 / support@kizuki.example.co.jp",
    )


@pytest.fixture
def template(db) -> EmailTemplate:
    return EmailTemplate.objects.create(
        name="資料A案内",
        subject="{{ lead.company }} {{ lead.last_name }} 様へ: 資料Aのご案内",
        preheader="導入事例つき",
        html_body=(
            "<style>p.lead { color: #0b6e4f; }</style>"
            '<p class="lead">{{ lead.last_name }} {{ lead.first_name|default("ご担当者") }} 様</p>'
            '<p><a href="https://www.example.co.jp/docs/a?utm_source=mail&amp;x=1">資料A</a>'
            ' と <a href="https://www.example.co.jp/case">事例</a></p>'
        ),
    )


def consenting_lead(**fields) -> Lead:
    lead = LeadFactory(**fields)
    consent_record(lead=lead, basis=Consent.Basis.FORM, source_ref="test form")
    return lead


@pytest.fixture
def smtp_settings(settings, smtp_server):
    """Send through Django's SMTP backend to the aiosmtpd sink."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.PUBLIC_URL = "https://kizuki.example.co.jp"
    return smtp_server


def received(sink) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(envelope.original_content or envelope.content,
                                 policy=email.policy.default)
        for envelope in list(sink.messages)
    ]  # fmt: skip


def html_part(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def text_part(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def newsletter_to(leads: list[Lead], template: EmailTemplate, **fields) -> Newsletter:
    static_list = StaticList.objects.create(name=f"list for {template.name}")
    from leads.models import ActorKind, ListMembership

    ListMembership.objects.bulk_create(
        ListMembership(static_list=static_list, lead=lead, added_by_kind=ActorKind.USER)
        for lead in leads
    )
    return Newsletter.objects.create(
        name=fields.pop("name", "3月号"), template=template, static_list=static_list, **fields
    )


def make_scenario(name: str, steps: list[dict], *, trigger: str = "manual", **fields):
    """A scenario with its graph saved through the service (validated)."""
    from scenarios.engine import scenario_save_graph
    from scenarios.graph import check_trigger
    from scenarios.models import Scenario

    config = check_trigger(trigger, fields.pop("trigger_config", {}))
    scenario = Scenario.objects.create(name=name, trigger=trigger, trigger_config=config, **fields)
    scenario_save_graph(
        scenario=scenario,
        steps=[{"position": index, **step} for index, step in enumerate(steps)],
    )
    return scenario


def run_dispatch(moment) -> None:
    """One beat tick of the dispatcher at ``moment`` (the clock stands still)."""
    import time_machine

    from scenarios.tasks import dispatch

    with time_machine.travel(moment, tick=False):
        dispatch()
