"""The timeline registry: sources other apps register, merged newest first,
paged by a timestamp cursor."""

import datetime

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads.models import Activity
from leads.services import activity_create, tags_add_bulk
from leads.tests.factories import LeadFactory, UserFactory
from leads.timeline import (
    TimelineEntry,
    lead_timeline,
    register_timeline_source,
    timeline_sources,
    unregister_timeline_source,
)


def at(day: int, hour: int = 10, minute: int = 0) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime(2026, 10, day, hour, minute))


@pytest.fixture
def page_views():
    """A source standing in for tracking's page views, following the contract."""
    views = {}

    def provider(lead_id, before, limit):
        rows = sorted(views.get(lead_id, []), reverse=True)
        if before is not None:
            rows = [moment for moment in rows if moment < before]
        return [
            TimelineEntry(occurred_at=moment, kind="page_view", title="/pricing を閲覧", icon="web")
            for moment in rows[:limit]
        ]

    register_timeline_source("test.page_views", provider)
    yield views
    unregister_timeline_source("test.page_views")


@pytest.mark.django_db
def test_a_registered_source_is_merged_newest_first(page_views):
    lead = LeadFactory(created_at=at(1))
    activity_create(lead=lead, type="phone", result="continue", occurred_at=at(3))
    page_views[lead.pk] = [at(2), at(4)]

    page = lead_timeline(lead.pk)

    assert [(e.kind, e.occurred_at) for e in page.entries] == [
        ("page_view", at(4)),
        ("activity", at(3)),
        ("page_view", at(2)),
        ("lead_created", at(1)),
    ]
    assert page.older_than is None


@pytest.mark.django_db
def test_a_registered_source_shows_on_the_lead_page(client, page_views):
    user = UserFactory(username="timeline-marketer")
    user.groups.add(Group.objects.get(name="Marketer"))
    client.force_login(user)
    lead = LeadFactory()
    page_views[lead.pk] = [timezone.now()]
    html = client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert "/pricing を閲覧" in html
    assert "kz-entry-page_view" in html


@pytest.mark.django_db
def test_registering_a_key_again_replaces_it(page_views):
    lead = LeadFactory(created_at=at(1))
    page_views[lead.pk] = [at(2)]
    provider = timeline_sources()["test.page_views"]
    register_timeline_source("test.page_views", provider)
    assert [e.kind for e in lead_timeline(lead.pk).entries].count("page_view") == 1


@pytest.mark.django_db
def test_a_failing_source_is_named_and_the_rest_still_shows():
    lead = LeadFactory(created_at=at(1))

    def broken(lead_id, before, limit):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")
        return []

    register_timeline_source("test.broken", broken)
    try:
        page = lead_timeline(lead.pk)
    finally:
        unregister_timeline_source("test.broken")
    assert page.failed_sources == ["test.broken"]
    assert [e.kind for e in page.entries] == ["lead_created"]
    # and the transaction is still usable
    assert Activity.objects.count() == 0


@pytest.mark.django_db
def test_pages_follow_each_other_without_gaps_when_entries_share_an_instant():
    lead = LeadFactory(created_at=at(1))
    Activity.objects.bulk_create(
        Activity(
            lead=lead,
            occurred_at=at(2, minute=m),
            type="mail",
            result="continue",
            created_by_kind="user",
            content=str(m),
        )
        for m in range(9)
    )
    # five tag changes recorded at one instant, straddling the first page's end
    tags_add_bulk(lead_ids=[lead.pk], names=list("ABCDE"), actor_kind="user")
    lead.tag_changes.update(occurred_at=at(2, minute=3))

    seen, before, pages = [], None, 0
    while True:
        page = lead_timeline(lead.pk, before=before, limit=6)
        pages += 1
        seen += page.entries
        if page.older_than is None:
            break
        before = page.older_than
    assert len(seen) == 9 + 5 + 1
    assert len({(e.kind, e.title, e.occurred_at) for e in seen}) == len(seen)
    assert [e.occurred_at for e in seen] == sorted((e.occurred_at for e in seen), reverse=True)
    assert pages >= 3


@pytest.mark.django_db
def test_a_page_is_a_few_small_indexed_queries():
    lead = LeadFactory()
    Activity.objects.bulk_create(
        Activity(
            lead=lead,
            occurred_at=at(2) + datetime.timedelta(minutes=m),
            type="mail",
            result="continue",
            created_by_kind="user",
        )
        for m in range(500)
    )
    with CaptureQueriesContext(connection) as captured:
        page = lead_timeline(lead.pk, limit=50)
    assert len(page.entries) == 50
    selects = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    assert len(selects) <= 2 * len(timeline_sources())
    activity_query = next(sql for sql in selects if 'FROM "leads_activity"' in sql)
    assert "LIMIT 51" in activity_query
