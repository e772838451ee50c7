"""The activities block: counts per lead, including leads with no activity at
all, windows relative to now, and filters on type, result and source."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from leads.segments import check_segment, segment_leads
from leads.services import activity_create
from leads.tests.factories import LeadFactory

NOW = datetime.datetime(2026, 6, 1, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


def days_ago(days: float) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


def matching(block: dict, expression: str = "1") -> set[str]:
    emails = segment_leads(expression, {"1": {"kind": "activities", **block}}).values_list(
        "email", flat=True
    )
    return {email.split("@")[0] for email in emails}


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def leads(db, clock):
    # given: "none" has no activity, "one" a phone call 5 days ago from the
    # HOT list, "three" a mail 40 days ago, a call 10 days ago and a visit
    # yesterday that became an opportunity.
    LeadFactory(email="none@example.jp")
    one = LeadFactory(email="one@example.jp")
    activity_create(
        lead=one, type="phone", result="continue", source="hot_list", occurred_at=days_ago(5)
    )
    three = LeadFactory(email="three@example.jp")
    for type_, result, when in [
        ("mail", "continue", days_ago(40)),
        ("phone", "continue", days_ago(10)),
        ("visit", "opportunity", days_ago(1)),
    ]:
        activity_create(lead=three, type=type_, result=result, occurred_at=when)


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"op": ">=", "value": 1}, {"one", "three"}),
        # leads with no activity at all count as zero
        ({"op": "=", "value": 0}, {"none"}),
        ({"op": "<", "value": 1}, {"none"}),
        ({"op": "<", "value": 3}, {"none", "one"}),
        ({"op": "<=", "value": 1}, {"none", "one"}),
        ({"op": "<", "value": 0}, set()),
        ({"op": "=", "value": 1}, {"one"}),
        ({"op": "!=", "value": 1}, {"none", "three"}),
        ({"op": ">", "value": 1}, {"three"}),
        ({"op": ">=", "value": 3}, {"three"}),
        ({"op": ">=", "value": 4}, set()),
        ({"op": ">=", "value": 0}, {"none", "one", "three"}),
        ({"op": "between", "value": [1, 2]}, {"one"}),
        ({"op": "between", "value": [0, 1]}, {"none", "one"}),
        ({"op": ">=", "value": 2, "within_days": 30}, {"three"}),
        ({"op": "=", "value": 0, "within_days": 30}, {"none"}),
        ({"op": "=", "value": 1, "within_days": 7}, {"one", "three"}),
        ({"op": "=", "value": 0, "within_days": 3}, {"none", "one"}),
        ({"op": ">=", "value": 1, "type": "phone"}, {"one", "three"}),
        ({"op": ">=", "value": 1, "result": "opportunity"}, {"three"}),
        ({"op": ">=", "value": 3, "result": ["continue", "opportunity"]}, {"three"}),
        ({"op": ">=", "value": 1, "source": "hot_list"}, {"one"}),
        ({"op": "=", "value": 1, "type": ["mail", "visit"], "within_days": 30}, {"three"}),
        ({"op": "=", "value": 0, "type": "phone", "within_days": 7}, {"none", "three"}),
    ],
)
def test_activity_counts(leads, block, expected):
    assert matching(block) == expected


def test_not_any_activity_is_the_leads_never_followed(leads):
    assert matching({"op": ">=", "value": 1}, "NOT 1") == {"none"}


def test_window_edges_are_exact(db):
    # given: activities exactly 30 days ago and 30 days + 1 second ago
    with time_machine.travel(NOW, tick=False):
        edge = LeadFactory(email="edge@example.jp")
        activity_create(lead=edge, type="mail", result="continue", occurred_at=days_ago(30))
        outside = LeadFactory(email="outside@example.jp")
        activity_create(
            lead=outside,
            type="mail",
            result="continue",
            occurred_at=days_ago(30) - datetime.timedelta(seconds=1),
        )
        # then
        assert matching({"op": ">=", "value": 1, "within_days": 30}) == {"edge"}
        assert matching({"op": "=", "value": 0, "within_days": 30}) == {"outside"}
    with time_machine.travel(NOW + datetime.timedelta(seconds=1), tick=False):
        assert matching({"op": ">=", "value": 1, "within_days": 30}) == set()


def test_future_activities_are_not_in_the_last_days(db):
    with time_machine.travel(NOW, tick=False):
        planned = LeadFactory(email="planned@example.jp")
        activity_create(
            lead=planned,
            type="visit",
            result="continue",
            occurred_at=NOW + datetime.timedelta(days=2),
        )
        assert matching({"op": ">=", "value": 1, "within_days": 30}) == set()
        assert matching({"op": ">=", "value": 1}) == {"planned"}


@pytest.mark.parametrize(
    ("block", "key", "fragment"),
    [
        ({"op": ">=", "value": 1, "type": "fax"}, "type", "Choose one of: mail, phone, visit"),
        ({"op": ">=", "value": 1, "result": ["won"]}, "result", "“won” is not an activity result"),
        ({"op": ">=", "value": -1}, "value", "at least 0"),
        ({"op": ">=", "value": 1.5}, "value", "whole number"),
        ({"op": ">=", "value": 1, "within_days": 0}, "within_days", "at least 1"),
        ({"op": "~", "value": 1}, "op", "Choose one of: =, !=, >, >=, <, <=, between"),
        ({"op": ">="}, "value", "required"),
        ({"op": ">=", "value": 1, "when": "today"}, "when", "no parameter “when”"),
    ],
)
def test_invalid_activity_blocks(db, block, key, fragment):
    with pytest.raises(ValidationError) as info:
        check_segment("1", {"1": {"kind": "activities", **block}})
    assert list(info.value.message_dict) == [f"blocks.1.{key}"]
    assert fragment in info.value.message_dict[f"blocks.1.{key}"][0]
