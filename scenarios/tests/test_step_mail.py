"""Step mail: each lead gets day 0, 1, 3 … at the step's time of day from its
own start; a tag starts it once; 失注 or unsubscribing ends it and stops the
mails not yet sent."""

import datetime
import zoneinfo

import pytest
import time_machine

from leads.models import ActorKind, Tag
from leads.services import tags_add_bulk
from scenarios.models import Enrollment, Send, SequenceStep, StepSequence
from scenarios.step_mail import sequence_enroll
from scenarios.tasks import dispatch

from .conftest import consenting_lead, received

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
MONDAY = datetime.date(2026, 3, 2)


def at(day: datetime.date, hour: int, minute: int = 0, second: int = 0, plus_days: int = 0):
    return datetime.datetime.combine(
        day + datetime.timedelta(days=plus_days), datetime.time(hour, minute, second), TOKYO
    )


@pytest.fixture
def sequence(profile, template):
    profile.weekly_cap = 10  # these tests are about offsets, not the cap
    profile.save()
    sequence = StepSequence.objects.create(
        name="資料Aフォロー",
        trigger=StepSequence.Trigger.TAG_ADDED,
        trigger_tag=Tag.objects.create(name="資料A"),
        exit_tag=Tag.objects.create(name="失注"),
    )
    for position, (day, hour) in enumerate([(0, 10), (1, 10), (3, 9)]):
        SequenceStep.objects.create(
            sequence=sequence, position=position, day_offset=day,
            send_time=datetime.time(hour), template=template,
        )  # fmt: skip
    return sequence


def run(moment):
    with time_machine.travel(moment, tick=False):
        dispatch()


def mails_to(sink, lead) -> int:
    return [m["To"] for m in received(sink)].count(lead.email)


@pytest.mark.django_db(transaction=True)
def test_each_lead_advances_from_its_own_start(sequence, smtp_settings):
    # given a lead entering Monday 15:00 and another entering Tuesday 08:00
    early, late = consenting_lead(), consenting_lead()
    with time_machine.travel(at(MONDAY, 15), tick=False):
        sequence_enroll(sequence=sequence, lead_ids=[early.pk])
    run(at(MONDAY, 15))
    # day 0 at 10:00 had passed when it entered: it goes at once
    assert mails_to(smtp_settings, early) == 1
    with time_machine.travel(at(MONDAY, 8, plus_days=1), tick=False):
        sequence_enroll(sequence=sequence, lead_ids=[late.pk])

    # Tuesday 09:59:59: nothing is due for either
    run(at(MONDAY, 9, 59, 59, plus_days=1))
    assert (mails_to(smtp_settings, early), mails_to(smtp_settings, late)) == (1, 0)
    # Tuesday 10:00: the early lead's day 1 and the late lead's day 0
    run(at(MONDAY, 10, plus_days=1))
    assert (mails_to(smtp_settings, early), mails_to(smtp_settings, late)) == (2, 1)
    # Thursday 09:00: the early lead's day 3 (Monday + 3); the late one is on day 2 only
    run(at(MONDAY, 8, 59, 59, plus_days=3))
    assert mails_to(smtp_settings, early) == 2
    run(at(MONDAY, 9, plus_days=3))
    assert (mails_to(smtp_settings, early), mails_to(smtp_settings, late)) == (3, 2)
    # Friday 09:00: the late lead's day 3
    run(at(MONDAY, 9, plus_days=4))
    assert (mails_to(smtp_settings, early), mails_to(smtp_settings, late)) == (3, 3)

    states = dict(Enrollment.objects.values_list("lead_id", "state"))
    assert states == {early.pk: "completed", late.pk: "completed"}
    # running again sends nothing more
    run(at(MONDAY, 12, plus_days=5))
    assert len(received(smtp_settings)) == 6


@pytest.mark.django_db(transaction=True)
def test_a_tag_enrolls_once_and_lost_deal_ends_it(sequence, smtp_settings):
    lead = consenting_lead()
    with time_machine.travel(at(MONDAY, 11), tick=False):
        # when the whitepaper form's tag is added (twice: removed and added again)
        tags_add_bulk(lead_ids=[lead.pk], names=["資料A"], actor_kind=ActorKind.USER)
        Tag.objects.get(name="資料A").lead_tags.all().delete()
        tags_add_bulk(lead_ids=[lead.pk], names=["資料A"], actor_kind=ActorKind.USER)
    assert Enrollment.objects.filter(lead=lead).count() == 1
    run(at(MONDAY, 11))
    assert mails_to(smtp_settings, lead) == 1

    # day 1 is written as a send but the lead is tagged 失注 before it goes
    with time_machine.travel(at(MONDAY, 10, plus_days=1), tick=False):
        from scenarios.step_mail import enrollments_advance

        enrollments_advance()
        tags_add_bulk(lead_ids=[lead.pk], names=["失注"], actor_kind=ActorKind.USER)
    run(at(MONDAY, 10, plus_days=1))
    run(at(MONDAY, 10, plus_days=4))

    assert mails_to(smtp_settings, lead) == 1
    enrollment = Enrollment.objects.get(lead=lead)
    assert enrollment.state == "exited"
    assert "失注" in enrollment.exit_reason
    assert Send.objects.filter(enrollment=enrollment, state="skipped").count() == 1


@pytest.mark.django_db(transaction=True)
def test_unsubscribing_leaves_every_sequence(sequence, smtp_settings):
    from scenarios.services import lead_unsubscribe

    lead = consenting_lead()
    with time_machine.travel(at(MONDAY, 11), tick=False):
        sequence_enroll(sequence=sequence, lead_ids=[lead.pk])
    run(at(MONDAY, 11))
    lead_unsubscribe(lead=lead, channel="email")
    run(at(MONDAY, 10, plus_days=1))

    assert mails_to(smtp_settings, lead) == 1
    assert Enrollment.objects.get(lead=lead).state == "exited"
