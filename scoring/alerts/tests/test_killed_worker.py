"""A worker killed after claiming a delivery and before the endpoint took it:
the send is handed back after the lease and goes out exactly once."""

import pytest
from django.utils import timezone

from scoring.alerts.models import Alert, AlertDelivery, AlertRule
from scoring.alerts.services import (
    CLAIM_LEASE,
    alert_rule_saved,
    deliveries_enqueue,
    delivery_send,
)
from scoring.alerts.services import deliveries_sweep as sweep

from .conftest import make_hot, wait_until


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_between_claim_and_send_results_in_exactly_one_alert(
    celery_worker_process, alert_mail, hook_server, prospect
):
    # given a HOT rule with email and a Slack endpoint that holds the first post
    slack = hook_server(hang_first=True)
    alert_rule_saved(
        AlertRule.objects.create(name="HOT", trigger="became_hot", slack_webhook_url=slack.url)
    )
    worker = celery_worker_process("default")

    # when the lead turns HOT and the worker, having claimed the Slack send,
    # is killed before Slack accepted it
    make_hot(prospect, timezone.now())
    wait_until(lambda: slack.hanging.is_set() and len(alert_mail.messages) == 1)
    slack_send = AlertDelivery.objects.get(channel="slack")
    assert slack_send.state == "sending" and slack_send.attempts == 1
    worker.kill()
    slack.release()

    # then a redelivered task cannot send it again while the claim stands
    celery_worker_process("default")
    assert delivery_send(slack_send.pk) is None
    assert sweep() == []  # not stale yet: nothing handed back

    # when the lease is over, the sweep hands it back and a worker sends it
    deliveries_enqueue(sweep(now=timezone.now() + CLAIM_LEASE))
    wait_until(lambda: AlertDelivery.objects.get(pk=slack_send.pk).state == "sent")

    # then there is exactly one alert, one email and one Slack post
    assert Alert.objects.count() == 1
    assert len(alert_mail.messages) == 1
    assert len(slack.delivered) == 1
    slack_send.refresh_from_db()
    assert slack_send.attempts == 2
    assert [(a.number, a.ok) for a in slack_send.log.all()] == [(1, False), (2, True)]
    # and nothing more goes out however often the task runs again
    assert delivery_send(slack_send.pk) is None
    assert sweep(now=timezone.now() + CLAIM_LEASE) == []
    assert len(slack.delivered) == 1 and len(alert_mail.messages) == 1
