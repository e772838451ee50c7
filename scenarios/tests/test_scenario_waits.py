"""Waits are timestamps on the run, checked by the dispatcher at their edges:
a duration counts from when the run reached the wait, "until weekday + time"
is the next such moment in the site's time zone, "until a date" that moment."""

import datetime
import zoneinfo

import pytest
import time_machine

from leads.models import LeadTag
from leads.tests.factories import LeadFactory
from scenarios.engine import scenario_enroll
from scenarios.models import ScenarioEnrollment

from .conftest import make_scenario, run_dispatch

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
WED = datetime.datetime(2026, 3, 4, 15, 30, tzinfo=TOKYO)  # a Wednesday
SECOND = datetime.timedelta(seconds=1)


def tags(lead) -> set[str]:
    return set(LeadTag.objects.filter(lead=lead).values_list("tag__name", flat=True))


@pytest.mark.django_db(transaction=True)
def test_waits_end_exactly_at_their_edges():
    scenario = make_scenario(
        "待ち",
        [
            {"key": "monday", "kind": "wait", "config": {"weekday": 0, "time": "09:00"},
             "next_key": "t1"},
            {"key": "t1", "kind": "add_tag", "config": {"tag": "月曜"}, "next_key": "day"},
            {"key": "day", "kind": "wait", "config": {"days": 1, "hours": 2},
             "next_key": "t2"},
            {"key": "t2", "kind": "add_tag", "config": {"tag": "翌日"}, "next_key": "date"},
            {"key": "date", "kind": "wait", "config": {"until": "2026-03-20T12:00"},
             "next_key": "t3"},
            {"key": "t3", "kind": "add_tag", "config": {"tag": "指定日"}},
        ],
    )  # fmt: skip
    lead = LeadFactory()
    with time_machine.travel(WED, tick=False):
        scenario_enroll(scenario=scenario, lead_ids=[lead.pk])
    run_dispatch(WED)
    monday = datetime.datetime(2026, 3, 9, 9, 0, tzinfo=TOKYO)
    assert ScenarioEnrollment.objects.get().next_due_at == monday

    run_dispatch(monday - SECOND)
    assert tags(lead) == set()
    # the dispatcher runs late (09:00:40): the next wait still counts from 09:00
    run_dispatch(monday + datetime.timedelta(seconds=40))
    assert tags(lead) == {"月曜"}

    day_later = monday + datetime.timedelta(days=1, hours=2)
    run_dispatch(day_later - SECOND)
    assert tags(lead) == {"月曜"}
    run_dispatch(day_later)
    assert tags(lead) == {"月曜", "翌日"}

    until = datetime.datetime(2026, 3, 20, 12, 0, tzinfo=TOKYO)
    run_dispatch(until - SECOND)
    assert "指定日" not in tags(lead)
    run_dispatch(until)
    assert tags(lead) == {"月曜", "翌日", "指定日"}
    assert ScenarioEnrollment.objects.get().state == "completed"


@pytest.mark.django_db(transaction=True)
def test_a_run_reaching_the_weekday_at_that_very_minute_goes_on_at_once():
    scenario = make_scenario(
        "当日",
        [
            {"key": "monday", "kind": "wait", "config": {"weekday": 0, "time": "09:00"},
             "next_key": "t"},
            {"key": "t", "kind": "add_tag", "config": {"tag": "月曜"}},
        ],
    )  # fmt: skip
    on_time, late = LeadFactory(), LeadFactory()
    monday = datetime.datetime(2026, 3, 9, 9, 0, tzinfo=TOKYO)
    with time_machine.travel(monday, tick=False):
        scenario_enroll(scenario=scenario, lead_ids=[on_time.pk])
    with time_machine.travel(monday + SECOND, tick=False):
        scenario_enroll(scenario=scenario, lead_ids=[late.pk])
    run_dispatch(monday + SECOND)
    assert tags(on_time) == {"月曜"}
    assert tags(late) == set()
    late_run = ScenarioEnrollment.objects.get(lead=late)
    assert late_run.next_due_at == monday + datetime.timedelta(days=7)
