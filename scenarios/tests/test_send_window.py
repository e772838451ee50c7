"""A send window (weekdays 09:00–18:00 Asia/Tokyo): a mail due outside it
waits for the next opening and goes at exactly that moment."""

import datetime
import zoneinfo

import pytest
import time_machine

from scenarios.models import Send, SendWindow
from scenarios.sending import sends_dispatch
from scenarios.services import newsletter_schedule, newsletters_materialize_due

from .conftest import consenting_lead, newsletter_to, received

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
FRIDAY = datetime.date(2026, 3, 6)
MONDAY = datetime.date(2026, 3, 9)


def at(day: datetime.date, hour: int, minute: int = 0, second: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute, second), tzinfo=TOKYO)


@pytest.fixture
def office_hours(db) -> SendWindow:
    return SendWindow.objects.create(
        name="平日9-18時", weekdays=[0, 1, 2, 3, 4], start_time=datetime.time(9),
        end_time=datetime.time(18), time_zone="Asia/Tokyo",
    )  # fmt: skip


def schedule(moment, template, window, leads):
    with time_machine.travel(moment, tick=False):
        newsletter = newsletter_to(leads, template, send_window=window)
        newsletter_schedule(newsletter=newsletter)
        newsletters_materialize_due()
        sends_dispatch()
    return Send.objects.get(newsletter=newsletter)


@pytest.mark.django_db
def test_a_second_before_closing_it_goes(profile, template, office_hours, smtp_settings):
    send = schedule(at(FRIDAY, 17, 59, 59), template, office_hours, [consenting_lead()])
    assert send.state == Send.State.SENT
    assert len(received(smtp_settings)) == 1


@pytest.mark.django_db
def test_at_closing_it_waits_for_monday_nine(profile, template, office_hours, smtp_settings):
    # given a mail due on Friday at 18:00 sharp
    send = schedule(at(FRIDAY, 18), template, office_hours, [consenting_lead()])

    # then it waits for Monday 09:00 and says why
    assert send.state == Send.State.PENDING
    assert send.due_at == at(MONDAY, 9)
    assert "send window" in send.reason
    assert received(smtp_settings) == []

    # the weekend and Monday 08:59:59 send nothing
    for moment in (at(FRIDAY + datetime.timedelta(days=1), 12), at(MONDAY, 8, 59, 59)):
        with time_machine.travel(moment, tick=False):
            sends_dispatch()
    assert received(smtp_settings) == []

    # Monday 09:00 it goes
    with time_machine.travel(at(MONDAY, 9), tick=False):
        sends_dispatch()
    send.refresh_from_db()
    assert send.state == Send.State.SENT
    assert len(received(smtp_settings)) == 1
