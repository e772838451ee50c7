"""Bounces and complaints arrive through django-anymail's tracking webhook
(Mailgun's signed JSON payload): a hard bounce or a complaint suppresses the
address, five soft bounces do too; a bad signature changes nothing."""

import base64
import hashlib
import hmac
import json

import pytest
from django.test import Client

from leads.models import Suppression
from leads.timeline import lead_timeline
from scenarios.models import Bounce

from .conftest import consenting_lead

URL = "/anymail/mailgun/tracking/"
SIGNING_KEY = "key-0123456789"


@pytest.fixture
def webhook(settings):
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "WEBHOOK_SECRET": "esp:s3cret",
        "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
    }

    def post(event_data: dict, token: str, key: str = SIGNING_KEY):
        timestamp = "1772409600"
        signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
        body = {
            "signature": {"timestamp": timestamp, "token": token,
                          "signature": signature.hexdigest()},
            "event-data": {"timestamp": 1772409600.5, "id": token[:20], **event_data},
        }  # fmt: skip
        return Client().post(
            URL,
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"esp:s3cret").decode(),
        )

    return post


def failed(email: str, severity: str) -> dict:
    return {
        "event": "failed",
        "severity": severity,
        "recipient": email,
        "reason": "bounce" if severity == "permanent" else "generic",
        "delivery-status": {"code": 550 if severity == "permanent" else 421,
                            "message": "mailbox unavailable", "description": ""},
        "message": {"headers": {"message-id": "abc@kizuki.example.co.jp"}},
    }  # fmt: skip


@pytest.mark.django_db
def test_a_hard_bounce_suppresses_the_address(webhook):
    lead = consenting_lead()
    response = webhook(failed(lead.email, "permanent"), token="t-hard-1" * 4)
    assert response.status_code == 200
    suppression = Suppression.objects.get(lead=lead)
    assert (suppression.channel, suppression.reason) == ("email", "hard_bounce")
    kinds = {e.kind for e in lead_timeline(lead.pk).entries}
    assert {"suppression", "mail_bounce"} <= kinds


@pytest.mark.django_db
def test_a_complaint_suppresses_the_address(webhook):
    lead = consenting_lead()
    webhook({"event": "complained", "recipient": lead.email.upper()}, token="t-spam-1" * 4)
    assert Suppression.objects.get(lead=lead).reason == "complaint"


@pytest.mark.django_db
def test_five_soft_bounces_suppress_four_do_not(webhook):
    lead = consenting_lead()
    for n in range(4):
        webhook(failed(lead.email, "temporary"), token=f"t-soft-{n}" * 4)
        webhook(failed(lead.email, "temporary"), token=f"t-soft-{n}" * 4)  # ESP retry: once
    assert Bounce.objects.filter(lead=lead, kind="soft").count() == 4
    assert not Suppression.objects.filter(lead=lead).exists()

    webhook(failed(lead.email, "temporary"), token="t-soft-5" * 4)
    assert Suppression.objects.get(lead=lead).reason == "soft_bounces"


@pytest.mark.django_db
def test_a_bad_signature_is_refused_and_changes_nothing(webhook):
    lead = consenting_lead()
    response = webhook(failed(lead.email, "permanent"), token="t-bad-1" * 4, key="not-the-key")
    assert response.status_code == 400
    assert not Bounce.objects.exists()
    assert not Suppression.objects.exists()
