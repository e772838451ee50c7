"""Bounces and complaints arrive through django-anymail's tracking webhook
(here SendGrid's payload shape): a hard bounce or a complaint suppresses the
address, five soft bounces do too; a bad signature changes nothing."""

import base64
import json

import pytest
from django.test import Client

from leads.models import Suppression
from leads.timeline import lead_timeline
from scenarios.models import Bounce

from .conftest import consenting_lead

URL = "/anymail/sendgrid/tracking/"


@pytest.fixture
def webhook(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": "esp:s3cret"}

    def post(events: list[dict], auth: str = "esp:s3cret"):
        return Client().post(
            URL,
            json.dumps(events),
            content_type="application/json",
            HTTP_AUTHORIZATION="Basic " + base64.b64encode(auth.encode()).decode(),
        )

    return post


def sendgrid_event(email: str, event: str, n: int, **extra) -> dict:
    return {"email": email, "timestamp": 1772409600 + n, "event": event,
            "sg_event_id": f"evt-{event}-{n}", "sg_message_id": f"msg-{n}", **extra}  # fmt: skip


@pytest.mark.django_db
def test_a_hard_bounce_suppresses_the_address(webhook):
    lead = consenting_lead()
    response = webhook([sendgrid_event(lead.email, "bounce", 1, reason="550 5.1.1 unknown user",
                                       status="5.1.1", type="bounce")])  # fmt: skip
    assert response.status_code == 200
    suppression = Suppression.objects.get(lead=lead)
    assert (suppression.channel, suppression.reason) == ("email", "hard_bounce")
    kinds = {e.kind for e in lead_timeline(lead.pk).entries}
    assert {"suppression", "mail_bounce"} <= kinds


@pytest.mark.django_db
def test_a_complaint_suppresses_the_address(webhook):
    lead = consenting_lead()
    webhook([sendgrid_event(lead.email.upper(), "spamreport", 1)])
    assert Suppression.objects.get(lead=lead).reason == "complaint"


@pytest.mark.django_db
def test_five_soft_bounces_suppress_four_do_not(webhook):
    lead = consenting_lead()
    soft = [sendgrid_event(lead.email, "deferred", n, response="421 try later") for n in range(4)]
    webhook(soft)
    webhook(soft)  # the ESP retrying the same events counts them once
    assert Bounce.objects.filter(lead=lead, kind="soft").count() == 4
    assert not Suppression.objects.filter(lead=lead).exists()

    webhook([sendgrid_event(lead.email, "deferred", 5, response="421 try later")])
    assert Suppression.objects.get(lead=lead).reason == "soft_bounces"


@pytest.mark.django_db
def test_a_bad_signature_is_refused_and_changes_nothing(webhook):
    lead = consenting_lead()
    response = webhook([sendgrid_event(lead.email, "bounce", 1)], auth="esp:wrong")
    assert response.status_code == 400
    assert not Bounce.objects.exists()
    assert not Suppression.objects.exists()
