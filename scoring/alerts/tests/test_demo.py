"""The demo has a sensible default alert rule: HOT → the owner by email."""

from types import SimpleNamespace

from scoring.alerts import demo
from scoring.alerts.models import AlertRule


def test_demo_adds_the_default_rules_once(db):
    context = SimpleNamespace(stdout=None)
    demo.load(context)
    demo.load(context)
    hot = AlertRule.objects.get(trigger="became_hot")
    assert (hot.notify_owner, hot.send_email, hot.cooldown_days) == (True, True, 7)
    assert AlertRule.objects.get(trigger="returned_after_absence").absence_days == 60
    assert AlertRule.objects.count() == 2
