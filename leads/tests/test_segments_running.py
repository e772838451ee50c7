"""Running a saved search: one SQL statement, preview order, count, and
materializing the members into a dated static list set-based."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import CustomField, ListMembership, Segment, StaticList
from leads.segments import (
    segment_count,
    segment_leads_for,
    segment_materialize,
    segment_preview,
)
from leads.services import activity_create, list_add, tags_change
from leads.tests.factories import LeadFactory, StaticListFactory, UserFactory

NOW = datetime.datetime(2026, 5, 11, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


def lead_queries(captured) -> list[str]:
    return [q["sql"] for q in captured if 'FROM "leads_lead"' in q["sql"]]


@pytest.fixture
def hot_search(db):
    """Seed 004's weekly HOT search over leads data: tagged 展示会, an active
    member of the event list, no activity yet, not a competitor, more than
    10 employees per custom field or built-in field."""
    CustomField.objects.create(key="seats", label="席数", type="number")
    expo = StaticListFactory(name="展示会リスト")
    competitor = {"kind": "attribute", "field": "is_competitor", "op": "is", "value": True}
    other = Segment.objects.create(name="競合", expression="1", blocks={"1": competitor})
    segment = Segment.objects.create(
        name="HOTリード",
        expression="1 AND 2 AND NOT 3 AND NOT 4 AND (5 OR 6)",
        blocks={
            "1": {"kind": "tag", "op": "has", "value": "展示会"},
            "2": {"kind": "list", "op": "in", "value": expo.pk},
            "3": {"kind": "activities", "op": ">=", "value": 1, "within_days": 30},
            "4": {"kind": "segment", "op": "in", "value": other.pk},
            "5": {"kind": "attribute", "field": "employee_count", "op": ">", "value": 10},
            "6": {"kind": "attribute", "field": "custom.seats", "op": ">", "value": 10},
        },
    )
    return segment, expo


def test_the_search_is_one_sql_statement(hot_search):
    segment, expo = hot_search
    with time_machine.travel(NOW, tick=False):
        hot = LeadFactory(email="hot@example.jp", employee_count=50)
        by_seats = LeadFactory(email="seats@example.jp", custom={"seats": 20})
        called = LeadFactory(email="called@example.jp", employee_count=50)
        rival = LeadFactory(email="rival@example.jp", employee_count=50, is_competitor=True)
        small = LeadFactory(email="small@example.jp", employee_count=5)
        everyone = [hot, by_seats, called, rival, small]
        for lead in everyone:
            tags_change(lead=lead, add=["展示会"], actor_kind="import")
        list_add(static_list=expo, lead_ids=[lead.pk for lead in everyone], actor_kind="user")
        activity_create(lead=called, type="phone", result="continue")
        members = segment_leads_for(segment)
        # when
        with CaptureQueriesContext(connection) as captured:
            count = members.count()
        # then
        assert count == 2
        assert len(captured.captured_queries) == 1
        sql = captured.captured_queries[0]["sql"]
        assert "EXISTS" in sql and "GROUP BY" not in sql and "DISTINCT" not in sql
        assert set(members.values_list("email", flat=True)) == {
            "hot@example.jp",
            "seats@example.jp",
        }
        # segment_count reads definitions, but searches the leads once
        with CaptureQueriesContext(connection) as captured:
            assert segment_count(segment) == 2
        assert len(lead_queries(captured.captured_queries)) == 1


def test_preview_lists_the_newest_matching_leads_first(db):
    segment = Segment.objects.create(
        name="展示会", expression="1", blocks={"1": {"kind": "tag", "op": "has", "value": "展示会"}}
    )
    for day in (1, 3, 2):
        lead = LeadFactory(
            email=f"day{day}@example.jp", created_at=NOW + datetime.timedelta(days=day)
        )
        tags_change(lead=lead, add=["展示会"], actor_kind="user")
    LeadFactory(email="untagged@example.jp", created_at=NOW + datetime.timedelta(days=9))
    preview = segment_preview(segment, limit=2)
    assert [lead.email for lead in preview] == ["day3@example.jp", "day2@example.jp"]
    assert len(segment_preview(segment)) == 3


def test_materialize_saves_the_members_as_a_dated_list(db):
    # given
    segment = Segment.objects.create(
        name="失注", expression="1", blocks={"1": {"kind": "tag", "op": "has", "value": "失注"}}
    )
    lost = [LeadFactory(email=f"lost{i}@example.jp") for i in range(3)]
    LeadFactory(email="other@example.jp")
    for lead in lost:
        tags_change(lead=lead, add=["失注"], actor_kind="sfa")
    user = UserFactory(username="marketer")
    # when
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as captured:
        static_list = segment_materialize(segment=segment, by=user)
    # then: one INSERT … SELECT put every member in, none lead by lead
    inserts = [q["sql"] for q in captured.captured_queries if "leads_listmembership" in q["sql"]]
    assert len(inserts) == 1 and "SELECT" in inserts[0]
    static_list.refresh_from_db()
    assert static_list.source_segment == segment
    assert static_list.snapshot_at == NOW
    assert static_list.created_by == user
    assert static_list.name == "失注 (2026-05-11 09:00)"
    memberships = ListMembership.objects.filter(static_list=static_list)
    assert {m.lead_id for m in memberships} == {lead.pk for lead in lost}
    assert {(m.added_by_kind, m.added_by_id, m.added_at) for m in memberships} == {
        ("user", user.pk, NOW)
    }
    # a system run (the weekly HOT list) names its own list; each run is a new list
    weekly = segment_materialize(segment=segment, name="週次HOTリスト 2026-05-11")
    assert weekly.name == "週次HOTリスト 2026-05-11"
    assert set(weekly.memberships.values_list("added_by_kind", flat=True)) == {"system"}
    assert StaticList.objects.filter(source_segment=segment).count() == 2


def test_a_segment_that_became_invalid_raises_a_validation_error(db):
    # given: the list a segment uses was deleted
    gone = StaticListFactory()
    blocks = {"1": {"kind": "list", "op": "in", "value": gone.pk}}
    segment = Segment.objects.create(name="削除済みリスト", expression="1", blocks=blocks)
    gone.delete()
    # then: every entry point answers with the block to fix, and nothing is written
    for run in (segment_count, segment_preview, lambda s: segment_materialize(segment=s)):
        with pytest.raises(ValidationError) as info:
            run(segment)
        assert set(info.value.message_dict) == {"blocks.1.value"}
    assert not StaticList.objects.filter(source_segment=segment).exists()
