"""One alert per lead and rule per cooldown window (7 days by default), at its edges."""

import datetime

import pytest
import time_machine

from scoring.alerts.models import Alert, AlertRule
from scoring.alerts.services import alert_rule_saved, deliveries_sweep, delivery_send

from .conftest import make_cold, make_hot

T0 = datetime.datetime(2026, 11, 9, 1, 0, tzinfo=datetime.UTC)


def send_due() -> None:
    """What the worker does for every due delivery."""
    for delivery_id in deliveries_sweep():
        delivery_send(delivery_id)


def cross_hot_at(lead, at: datetime.datetime) -> None:
    with time_machine.travel(at, tick=False):
        make_cold(lead)
        make_hot(lead, at)
        send_due()


@pytest.mark.django_db(transaction=True)
def test_a_second_crossing_inside_the_cooldown_sends_nothing(alert_mail, hook_server, prospect):
    # given a HOT rule (email to the owner and Slack) with the default cooldown
    slack = hook_server()
    rule = AlertRule.objects.create(name="HOT", trigger="became_hot", slack_webhook_url=slack.url)
    alert_rule_saved(rule)
    assert rule.cooldown_days == 7

    # when the lead turns HOT, cools down and turns HOT again 1 s before 7 days passed
    cross_hot_at(prospect, T0)
    cross_hot_at(prospect, T0 + datetime.timedelta(days=7) - datetime.timedelta(seconds=1))

    # then only the first crossing alerted
    assert Alert.objects.count() == 1
    assert len(alert_mail.messages) == 1 and len(slack.delivered) == 1

    # when it turns HOT again exactly 7 days after the first alert
    cross_hot_at(prospect, T0 + datetime.timedelta(days=7))

    # then a second alert goes out
    assert list(Alert.objects.order_by("window_start").values_list("window_start", flat=True)) == [
        T0,
        T0 + datetime.timedelta(days=7),
    ]
    assert len(alert_mail.messages) == 2 and len(slack.delivered) == 2


@pytest.mark.django_db(transaction=True)
def test_the_cooldown_is_per_rule_and_per_lead(alert_mail, prospect, rep):
    from leads.models import Lead

    # given two HOT rules and a second lead of the same rep
    for name in ("HOT A", "HOT B"):
        alert_rule_saved(AlertRule.objects.create(name=name, trigger="became_hot"))
    other = Lead.objects.create(email="other@example.co.jp", owner=rep)

    # when both leads turn HOT
    cross_hot_at(prospect, T0)
    cross_hot_at(other, T0 + datetime.timedelta(hours=1))

    # then each rule alerted for each lead once
    assert Alert.objects.count() == 4
    assert len(alert_mail.messages) == 4
