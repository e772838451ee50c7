"""The weekly cadence at its edges (Asia/Tokyo): Monday 09:00 list + mail to
inside sales, Thursday 09:00 reminder naming only unfollowed members, Friday
17:00 report to marketing; every mail once, through a real SMTP server."""

import datetime

import pytest
import time_machine

from leads.services import activity_create, leads_set_owner
from scoring.hotlists.models import HotListMail, HotListRun, MailState
from scoring.hotlists.services import hotlist_mail_send, hotlists_dispatch
from scoring.hotlists.tests.conftest import MONDAY_9, received

SECOND = datetime.timedelta(seconds=1)
THURSDAY_9 = MONDAY_9 + datetime.timedelta(days=3)
FRIDAY_17 = MONDAY_9 + datetime.timedelta(days=4, hours=8)


def tick(now: datetime.datetime) -> int:
    """One beat tick at ``now``: record what is due and send it here."""
    with time_machine.travel(now, tick=False):
        sent = 0
        for mail_id in hotlists_dispatch():
            sent += hotlist_mail_send(mail_id=mail_id)
        return sent


def by_recipient(smtp_server) -> dict[str, list[tuple[str, str]]]:
    result: dict[str, list] = {}
    for to, subject, body in received(smtp_server):
        for address in to:
            result.setdefault(address, []).append((subject, body))
    return result


@pytest.mark.django_db
def test_monday_at_nine_makes_the_list_and_mails_the_top_20(hot_list, make_lead, smtp_settings):
    # given 25 leads matching the HOT search, scored so their order is known
    from leads.models import Lead

    for i in range(25):
        lead = make_lead(f"lead{i:02}@example.jp", last_name="顧客", first_name=f"{i:02}")
        Lead.objects.filter(pk=lead.pk).update(score=500 - i, rank="HOT")

    # when beat ticks a second before Monday 09:00 Tokyo time: nothing yet
    assert tick(MONDAY_9 - SECOND) == 0
    assert not HotListRun.objects.exists()

    # and at 09:00
    assert tick(MONDAY_9) == 1

    # then the list is made and inside sales got the count and the first 20 with links
    run = HotListRun.objects.get()
    assert run.member_count == 25
    mails = by_recipient(smtp_settings)
    assert list(mails) == ["inside1@example.jp"]
    [(subject, body)] = mails["inside1@example.jp"]
    assert "HOTリードリスト" in subject and "25" in subject
    assert "顧客 00" in body and "顧客 19" in body
    assert "顧客 20" not in body
    first = run.members.get(position=1)
    assert f"/workbench/?run={run.pk}&member={first.pk}" in body

    # and later ticks that day send nothing again
    assert tick(MONDAY_9 + datetime.timedelta(minutes=5)) == 0
    assert tick(MONDAY_9 + datetime.timedelta(hours=3)) == 0
    assert len(smtp_settings.messages) == 1


@pytest.mark.django_db
def test_a_missed_monday_tick_is_caught_up_at_the_next(hot_list, make_lead, smtp_settings):
    make_lead("a@example.jp")
    # beat was down all Monday: the first tick is Tuesday 10:00
    assert tick(MONDAY_9 + datetime.timedelta(days=1, hours=1)) == 1
    run = HotListRun.objects.get()
    assert run.week_start == datetime.date(2026, 11, 16)
    assert HotListMail.objects.get().state == MailState.SENT


@pytest.fixture
def week(hot_list, make_lead, inside, inside2, smtp_settings):
    """Monday's list of three: A (inside2, not called), B (inside2, called),
    C (nobody's, not called)."""
    leads = {
        name: make_lead(f"{name.lower()}@example.jp", last_name="リード", first_name=name)
        for name in ("A", "B", "C")
    }
    leads_set_owner(lead_ids=[leads["A"].pk, leads["B"].pk], owner=inside2)
    tick(MONDAY_9)
    smtp_settings.messages.clear()
    with time_machine.travel(MONDAY_9 + datetime.timedelta(days=1), tick=False):
        activity_create(lead=leads["B"], type="phone", result="opportunity", actor=inside2)
    return leads


@pytest.mark.django_db
def test_thursday_reminder_names_only_unfollowed_members(week, smtp_settings):
    # a second before Thursday 09:00: no reminder
    assert tick(THURSDAY_9 - SECOND) == 0

    # at 09:00: the assignee with unfollowed leads, and the team
    assert tick(THURSDAY_9) == 2
    mails = by_recipient(smtp_settings)
    assert set(mails) == {"inside2@example.jp", "inside1@example.jp"}
    [(_subject, to_assignee)] = mails["inside2@example.jp"]
    assert "リード A" in to_assignee
    assert "リード B" not in to_assignee  # followed
    assert "リード C" not in to_assignee  # not theirs
    [(subject, to_team)] = mails["inside1@example.jp"]
    assert "リード A" in to_team and "リード C" in to_team
    assert "リード B" not in to_team
    assert "2" in subject

    # a later tick sends no second reminder
    assert tick(THURSDAY_9 + datetime.timedelta(minutes=5)) == 0


@pytest.mark.django_db
def test_friday_report_counts_followed_unfollowed_and_outcomes(week, inside, smtp_settings):
    with time_machine.travel(THURSDAY_9 + datetime.timedelta(hours=2), tick=False):
        activity_create(lead=week["C"], type="mail", result="continue", actor=inside)
    tick(THURSDAY_9)
    smtp_settings.messages.clear()

    assert tick(FRIDAY_17 - SECOND) == 0
    assert tick(FRIDAY_17) == 1

    [(to, _subject, body)] = received(smtp_settings)
    assert to == ("mkt1@example.jp",)
    totals, outcomes, not_followed = body.split("\n\n")[:3]
    # members 3; followed B and C; not followed A; none taken off
    assert [line.rsplit(" ", 1)[1] for line in totals.splitlines()] == ["3", "2", "1", "0"]
    # opportunity 1 (B), continue 1 (C), archive 0
    assert [line.rsplit(" ", 1)[1] for line in outcomes.splitlines()[1:]] == ["1", "1", "0"]
    assert "リード A" in not_followed
    assert "リード B" not in not_followed and "リード C" not in not_followed
    assert tick(FRIDAY_17 + datetime.timedelta(hours=1)) == 0


@pytest.mark.django_db
def test_each_mail_is_recorded_once_whatever_the_ticks(week, smtp_settings):
    for moment in (THURSDAY_9, THURSDAY_9, FRIDAY_17, FRIDAY_17 + SECOND, FRIDAY_17):
        tick(moment)
    kinds = list(HotListMail.objects.order_by("kind", "recipient").values_list("kind", "recipient"))
    assert kinds == [
        ("publish", "inside1@example.jp"),
        ("remind", "inside1@example.jp"),
        ("remind", "inside2@example.jp"),
        ("report", "mkt1@example.jp"),
    ]
    assert set(HotListMail.objects.values_list("state", flat=True)) == {MailState.SENT}
    assert len(smtp_settings.messages) == 3  # the publish mail went out before the fixture cleared


@pytest.mark.django_db
def test_a_missed_thursday_is_caught_up_by_fridays_tick(week, smtp_settings):
    # beat was down from Thursday morning to Friday evening
    assert tick(FRIDAY_17) == 3  # the reminder (assignee and team) and the report
    kinds = sorted(HotListMail.objects.values_list("kind", flat=True))
    assert kinds == ["publish", "remind", "remind", "report"]
