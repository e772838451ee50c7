"""Demo alerts: a lead turning HOT emails its owner (the Inside sales group
when it has none), at most once a week per lead."""

from django.db import transaction

from scoring.alerts.models import AlertRule, AlertTrigger
from scoring.alerts.services import alert_rule_saved


def load(context) -> None:
    with transaction.atomic():
        rule, created = AlertRule.objects.get_or_create(
            name="HOTリード → 担当者へメール",
            defaults={
                "trigger": AlertTrigger.BECAME_HOT,
                "notify_owner": True,
                "send_email": True,
                "cooldown_days": 7,
            },
        )
        if created:
            alert_rule_saved(rule)
        returning, created = AlertRule.objects.get_or_create(
            name="久しぶりの再訪 → 担当者へメール",
            defaults={
                "trigger": AlertTrigger.RETURNED,
                "absence_days": 60,
                "notify_owner": True,
                "send_email": True,
                "cooldown_days": 7,
            },
        )
        if created:
            alert_rule_saved(returning)
    if context.stdout is not None:
        context.stdout.write(f"Alert rules: {AlertRule.objects.count()}")
