"""久しぶりユーザー: a known lead back after 60 days alerts its owner (seed 000)."""

import datetime

import pytest
import time_machine

from leads.models import Lead
from scoring.alerts.models import Alert, AlertRule
from scoring.alerts.services import alert_rule_saved, deliveries_sweep, delivery_send

from .conftest import page_views, parsed, parts

T0 = datetime.datetime(2026, 8, 3, 1, 0, tzinfo=datetime.UTC)


def visit_at(site, lead, at):
    with time_machine.travel(at, tick=False):
        page_views(site, lead, [("https://www.example.co.jp/pricing", "料金", at)])
        for delivery_id in deliveries_sweep():
            delivery_send(delivery_id)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("days", "alerted"), [(59, False), (60, True)])
def test_a_lead_back_after_sixty_days_alerts_its_owner(alert_mail, site, rep, days, alerted):
    # given the default "returned after absence" rule and a lead of the rep
    rule = AlertRule.objects.create(name="久しぶりの再訪", trigger="returned_after_absence")
    alert_rule_saved(rule)
    assert rule.absence_days == 60
    lead = Lead.objects.create(email="back@example.co.jp", last_name="鈴木", owner=rep)
    visit_at(site, lead, T0)

    # when the lead comes back after `days` days
    visit_at(site, lead, T0 + datetime.timedelta(days=days))

    # then the owner is alerted only after 60 days or more
    assert Alert.objects.exists() is alerted
    assert len(alert_mail.messages) == int(alerted)
    if alerted:
        assert Alert.objects.get().reason["gap_days"] == 60
        assert alert_mail.messages[0].rcpt_tos == ["tanaka@example.co.jp"]
        # in the site language (Japanese): the rep chose no other
        assert "60日ぶりの再訪" in parts(parsed(alert_mail.messages[0]))["text/plain"]


@pytest.mark.django_db(transaction=True)
def test_a_lead_without_owner_alerts_the_inside_sales_group(alert_mail, site):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    # given two inside-sales members (one without an address) and an ownerless lead
    group = Group.objects.get(name="Inside sales")
    for name, address in (("is1", "is1@example.co.jp"), ("is2", "")):
        get_user_model().objects.create_user(name, email=address).groups.add(group)
    alert_rule_saved(
        AlertRule.objects.create(
            name="久しぶりの再訪",
            trigger="returned_after_absence",
            extra_emails=["sales-team@example.co.jp"],
        )
    )
    lead = Lead.objects.create(email="nobody@example.co.jp")
    visit_at(site, lead, T0)

    # when it returns after 61 days
    visit_at(site, lead, T0 + datetime.timedelta(days=61))

    # then the inside-sales member with an address and the fixed address get it
    assert sorted(m.rcpt_tos[0] for m in alert_mail.messages) == [
        "is1@example.co.jp",
        "sales-team@example.co.jp",
    ]
