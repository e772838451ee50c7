"""A failing Slack endpoint is retried with backoff and logged on the alert,
then delivered once and never again; a signed webhook can be checked."""

import datetime
import hashlib
import hmac

import pytest
import time_machine
from django.urls import reverse

from scoring.alerts.models import Alert, AlertDelivery, AlertRule
from scoring.alerts.services import alert_rule_saved, alerts_raise, deliveries_sweep, delivery_send

T0 = datetime.datetime(2026, 11, 9, 1, 0, tzinfo=datetime.UTC)


def at(seconds: float):
    return time_machine.travel(T0 + datetime.timedelta(seconds=seconds), tick=False)


def raise_alert(prospect, **rule_fields) -> AlertDelivery:
    rule = AlertRule.objects.create(name="HOT", trigger="became_hot", **rule_fields)
    alert_rule_saved(rule)
    alerts_raise(rule=rule, reasons={prospect.pk: {"trigger": "became_hot"}}, now=T0)
    return AlertDelivery.objects.get()


@pytest.mark.django_db
def test_a_failing_slack_endpoint_is_retried_with_backoff_then_sent_once(
    hook_server, prospect, admin_client
):
    # given a Slack endpoint that fails twice (503) and then works
    slack = hook_server(script=[503, 503])
    delivery = raise_alert(prospect, send_email=False, slack_webhook_url=slack.url)

    # when the worker sends at once: it fails and waits 30 s
    with at(0):
        assert delivery_send(delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == T0 + datetime.timedelta(seconds=30)
    assert "HTTP 503" in delivery.last_error

    # then it is not due 1 s before the backoff ends, and is at its end
    with at(29):
        assert deliveries_sweep() == [] and delivery_send(delivery.pk) is None
    with at(30):
        assert deliveries_sweep() == [delivery.pk]
        assert delivery_send(delivery.pk) == "pending"  # second 503: waits 60 s
    with at(89):
        assert delivery_send(delivery.pk) is None
    with at(90):
        assert delivery_send(delivery.pk) == "sent"

    # then Slack got three requests and one message went through
    assert len(slack.requests) == 3 and len(slack.delivered) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("sent", 3, "")

    # and it is never sent again, by a late task or a later sweep
    with at(3600):
        assert deliveries_sweep() == [] and delivery_send(delivery.pk) is None
    assert len(slack.requests) == 3

    # and the alert's page in the admin shows the log
    alert = Alert.objects.get()
    html = admin_client.get(
        reverse("admin:scoring_alert_change", args=[alert.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert html.count("HTTP 503") >= 2
    assert "HTTP 200" in html


@pytest.mark.django_db
def test_a_slack_endpoint_that_is_gone_is_not_retried(hook_server, prospect):
    # given a revoked Slack webhook (404)
    slack = hook_server(script=[404])
    delivery = raise_alert(prospect, send_email=False, slack_webhook_url=slack.url)

    # when it is sent
    with at(0):
        assert delivery_send(delivery.pk) == "failed"

    # then it is marked failed with the reason and never tried again
    delivery.refresh_from_db()
    assert "HTTP 404" in delivery.last_error
    with at(7200):
        assert deliveries_sweep() == [] and delivery_send(delivery.pk) is None
    assert len(slack.requests) == 1


@pytest.mark.django_db
def test_the_webhook_is_signed_over_timestamp_and_body(hook_server, prospect):
    # given a webhook rule
    hook = hook_server()
    delivery = raise_alert(prospect, send_email=False, webhook_url=hook.url)
    secret = AlertRule.objects.get().webhook_secret
    assert len(secret) >= 32

    # when it is sent
    with at(0):
        assert delivery_send(delivery.pk) == "sent"

    # then the receiver can check the signature and reads the lead
    request = hook.delivered[0]
    timestamp = request["headers"]["X-Kizuki-Timestamp"]
    assert int(timestamp) == int(T0.timestamp())
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256)
    assert request["headers"]["X-Kizuki-Signature"] == "sha256=" + expected.hexdigest()
    assert request["headers"]["X-Kizuki-Delivery"] == str(delivery.pk)
    payload = hook.json()
    assert payload["lead"]["email"] == "sato@minato.example.co.jp"
    assert payload["lead"]["url"].endswith(f"/admin/leads/lead/{prospect.pk}/change/")
