"""At most N marketing mails per lead per rolling 7 days: a mail over the cap
waits until the oldest counted mail is 7 days old (deferred, reason shown),
and goes out at exactly that moment."""

import datetime
import zoneinfo

import pytest
import time_machine

from scenarios.models import Send
from scenarios.sending import sends_dispatch
from scenarios.services import newsletter_schedule, newsletters_materialize_due

from .conftest import consenting_lead, newsletter_to, received

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
MONDAY_10 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=TOKYO)


def send_newsletter_at(moment, leads, template, name):
    with time_machine.travel(moment, tick=False):
        newsletter = newsletter_to(leads, template, name=name)
        newsletter_schedule(newsletter=newsletter)
        newsletters_materialize_due()
        sends_dispatch()
    return newsletter


@pytest.mark.django_db
def test_third_mail_in_a_week_waits_until_the_first_is_seven_days_old(
    profile, template, smtp_settings
):
    # given a lead that got two newsletters (Monday and Tuesday 10:00)
    lead = consenting_lead()
    send_newsletter_at(MONDAY_10, [lead], template, "1")
    send_newsletter_at(MONDAY_10 + datetime.timedelta(days=1), [lead], template, "2")
    assert len(received(smtp_settings)) == 2

    # when a third is due on Wednesday
    third = send_newsletter_at(MONDAY_10 + datetime.timedelta(days=2), [lead], template, "3")

    # then it is deferred (not dropped) to next Monday 10:00, and says why
    send = Send.objects.get(newsletter=third)
    assert send.state == Send.State.PENDING
    assert send.due_at == MONDAY_10 + datetime.timedelta(days=7)
    assert "Weekly cap of 2" in send.reason
    assert len(received(smtp_settings)) == 2

    # a second before the week is over it still waits
    with time_machine.travel(MONDAY_10 + datetime.timedelta(days=7, seconds=-1), tick=False):
        sends_dispatch()
    assert len(received(smtp_settings)) == 2
    # at the moment the Monday mail leaves the 7-day window, it goes
    with time_machine.travel(MONDAY_10 + datetime.timedelta(days=7), tick=False):
        sends_dispatch()
    send.refresh_from_db()
    assert send.state == Send.State.SENT
    assert len(received(smtp_settings)) == 3


@pytest.mark.django_db
def test_the_cap_is_configurable_and_counts_per_lead(profile, template, smtp_settings):
    # given a cap of 1 and two leads, one of which already got a mail today
    profile.weekly_cap = 1
    profile.save()
    busy, fresh = consenting_lead(), consenting_lead()
    send_newsletter_at(MONDAY_10, [busy], template, "1")

    # when a newsletter goes to both an hour later
    second = send_newsletter_at(MONDAY_10 + datetime.timedelta(hours=1), [busy, fresh],
                                template, "2")  # fmt: skip

    # then only the fresh lead gets it now
    states = dict(Send.objects.filter(newsletter=second).values_list("lead_id", "state"))
    assert states == {busy.pk: "pending", fresh.pk: "sent"}
    assert sorted(m["To"] for m in received(smtp_settings)) == sorted([busy.email, fresh.email])
