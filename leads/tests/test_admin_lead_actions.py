"""Bulk actions on the lead list: tags, lists, owner and merging two leads."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group

from leads.models import (
    Activity,
    Lead,
    LeadMerge,
    LeadTag,
    ListMembership,
    TagChange,
)
from leads.services import activity_create, tags_add_bulk
from leads.tests.factories import LeadFactory, StaticListFactory, UserFactory

CHANGELIST = "/admin/leads/lead/"


@pytest.fixture
def marketer(db):
    user = UserFactory(username="action-marketer", last_name="佐藤", first_name="花子")
    user.groups.add(Group.objects.get(name="Marketer"))
    return user


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


def run_action(client, action: str, leads, follow: bool = True, **options):
    data = {"action": action, "index": 0, ACTION_CHECKBOX_NAME: [lead.pk for lead in leads]}
    data.update(options)
    return client.post(CHANGELIST, data, follow=follow)


@pytest.mark.django_db
def test_add_tag_records_a_tag_change_per_lead_by_the_user(marketer_client, marketer):
    # given two leads, one of which already has the tag
    first, second, untouched = LeadFactory.create_batch(3)
    tags_add_bulk(lead_ids=[second.pk], names=["セミナー参加"], actor_kind="form")
    # when the marketer adds the tag to both
    response = run_action(marketer_client, "add_tag", [first, second], tag="セミナー参加")
    # then only the lead that lacked it changes, recorded as done by the marketer
    assert "セミナー参加" in response.content.decode()
    added = TagChange.objects.filter(actor_kind="user", action="added")
    assert [(c.lead_id, c.tag.name, c.actor) for c in added] == [
        (first.pk, "セミナー参加", marketer)
    ]
    assert set(LeadTag.objects.values_list("lead_id", flat=True)) == {first.pk, second.pk}
    assert not LeadTag.objects.filter(lead=untouched).exists()


@pytest.mark.django_db
def test_add_tag_across_all_pages_uses_the_filtered_selection(marketer_client):
    leads = LeadFactory.create_batch(3, stage="interest")
    LeadFactory(stage="awareness")
    marketer_client.post(
        CHANGELIST + "?stage__exact=interest",
        {
            "action": "add_tag",
            "index": 0,
            "select_across": 1,
            "tag": "育成中",
            ACTION_CHECKBOX_NAME: [leads[0].pk],
        },
    )
    assert set(LeadTag.objects.values_list("lead_id", flat=True)) == {lead.pk for lead in leads}


@pytest.mark.django_db
def test_remove_tag_records_removals(marketer_client, marketer):
    lead = LeadFactory()
    tags_add_bulk(lead_ids=[lead.pk], names=["競合"], actor_kind="user")
    run_action(marketer_client, "remove_tag", [lead], tag="競合")
    assert not LeadTag.objects.filter(lead=lead).exists()
    removal = TagChange.objects.get(action="removed")
    assert (removal.lead_id, removal.actor) == (lead.pk, marketer)


@pytest.mark.django_db
def test_a_tag_action_without_a_tag_changes_nothing_and_says_so(marketer_client):
    lead = LeadFactory()
    response = run_action(marketer_client, "add_tag", [lead], tag="")
    assert (
        "Type the tag to add." in response.content.decode() or "タグ" in response.content.decode()
    )
    assert not TagChange.objects.exists()


@pytest.mark.django_db
def test_add_to_and_remove_from_a_list(marketer_client, marketer):
    first, second = LeadFactory.create_batch(2)
    static_list = StaticListFactory(name="展示会フォロー")
    run_action(marketer_client, "add_to_list", [first, second], static_list=static_list.pk)
    members = ListMembership.objects.filter(static_list=static_list, removed_at__isnull=True)
    assert {m.lead_id for m in members} == {first.pk, second.pk}
    assert {m.added_by for m in members} == {marketer}

    run_action(marketer_client, "remove_from_list", [first], static_list=static_list.pk)
    removed = ListMembership.objects.get(lead=first)
    assert removed.removed_at is not None and removed.removed_by == marketer
    assert ListMembership.objects.get(lead=second).removed_at is None


@pytest.mark.django_db
def test_set_owner(marketer_client):
    rep = UserFactory(username="owner-rep", last_name="高橋", first_name="健")
    first, second = LeadFactory.create_batch(2)
    response = run_action(marketer_client, "set_owner", [first, second], owner=rep.pk)
    assert set(Lead.objects.values_list("owner_id", flat=True)) == {rep.pk}
    assert "高橋 健" in response.content.decode()


@pytest.mark.django_db
def test_merge_asks_which_lead_remains_then_merges(marketer_client, marketer):
    # given two records of one person, each with some history
    older = LeadFactory(email="k.sato@toho.example.co.jp", last_name="佐藤", phone="")
    newer = LeadFactory(
        email="kenta.sato@toho.example.co.jp", last_name="佐藤", phone="03-0000-1234"
    )
    tags_add_bulk(lead_ids=[newer.pk], names=["資料請求"], actor_kind="form")
    activity_create(lead=newer, type="phone", result="continue", actor=marketer)

    # when the marketer chooses "merge"
    confirm = run_action(marketer_client, "merge_leads", [older, newer], follow=False)
    # then a confirmation page shows both leads and asks for the survivor
    html = confirm.content.decode()
    assert confirm.status_code == 200
    assert "k.sato@toho.example.co.jp" in html and "kenta.sato@toho.example.co.jp" in html
    assert 'name="survivor"' in html
    assert Lead.objects.count() == 2

    # when they keep the older record
    done = marketer_client.post(
        CHANGELIST,
        {
            "action": "merge_leads",
            "post": "yes",
            "survivor": older.pk,
            ACTION_CHECKBOX_NAME: [older.pk, newer.pk],
        },
    )
    # then the newer one is gone, its history moved, and the merge audited
    assert done.status_code == 302
    assert done["Location"] == f"/admin/leads/lead/{older.pk}/change/"
    assert list(Lead.objects.values_list("pk", flat=True)) == [older.pk]
    older.refresh_from_db()
    assert older.phone == "03-0000-1234"
    assert Activity.objects.get().lead_id == older.pk
    assert LeadTag.objects.get().lead_id == older.pk
    audit = LeadMerge.objects.get()
    assert (audit.survivor_id, audit.merged_email, audit.merged_by) == (
        older.pk,
        "kenta.sato@toho.example.co.jp",
        marketer,
    )


@pytest.mark.django_db
def test_merge_needs_exactly_two_leads(marketer_client):
    leads = LeadFactory.create_batch(3)
    response = run_action(marketer_client, "merge_leads", leads)
    assert response.status_code == 200
    assert Lead.objects.count() == 3
    assert not LeadMerge.objects.exists()


@pytest.mark.django_db
def test_inside_sales_may_tag_but_not_merge(client):
    inside = UserFactory(username="action-inside")
    inside.groups.add(Group.objects.get(name="Inside sales"))
    client.force_login(inside)
    html = client.get(CHANGELIST).content.decode()
    assert 'value="add_tag"' in html
    assert 'value="merge_leads"' not in html
    first, second = LeadFactory.create_batch(2)
    client.post(
        CHANGELIST,
        {
            "action": "merge_leads",
            "post": "yes",
            "survivor": first.pk,
            ACTION_CHECKBOX_NAME: [first.pk, second.pk],
        },
    )
    assert Lead.objects.count() == 2
