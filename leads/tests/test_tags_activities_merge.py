"""Tag events, the activity audit, lists, suppression and merge."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from leads import signals
from leads.models import (
    Activity,
    Consent,
    LeadMerge,
    LeadTag,
    ListMembership,
    Suppression,
    TagChange,
)
from leads.services import (
    activity_correct,
    activity_create,
    consent_record,
    lead_merge,
    list_add,
    list_remove,
    suppression_add,
    tags_change,
)
from leads.tests.factories import LeadFactory, StaticListFactory, UserFactory


@pytest.mark.django_db
def test_tag_changes_are_recorded_and_announced_on_commit(django_capture_on_commit_callbacks):
    lead = LeadFactory()
    user = UserFactory()
    heard = []

    def receiver(sender, **kwargs):
        heard.append((kwargs["tag"], kwargs["action"], kwargs["lead_ids"]))

    signals.tags_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = tags_change(lead=lead, add=["失注", "展示会"], actor_kind="user", actor=user)
            again = tags_change(lead=lead, add=["失注"], remove=["未設定"], actor_kind="user")
            removed = tags_change(lead=lead, remove=["展示会"], actor_kind="scenario")
    finally:
        signals.tags_changed.disconnect(receiver)
    assert result == {"added": ["失注", "展示会"], "removed": []}
    assert again == {"added": [], "removed": []}
    assert removed == {"added": [], "removed": ["展示会"]}
    assert list(LeadTag.objects.filter(lead=lead).values_list("tag__name", flat=True)) == ["失注"]
    changes = TagChange.objects.filter(lead=lead).order_by("id")
    assert [(c.tag.name, c.action, c.actor_kind) for c in changes] == [
        ("失注", "added", "user"),
        ("展示会", "added", "user"),
        ("展示会", "removed", "scenario"),
    ]
    assert changes[0].actor == user
    assert sorted(heard) == sorted(
        [("失注", "added", [lead.pk]), ("展示会", "added", [lead.pk]),
         ("展示会", "removed", [lead.pk])]
    )  # fmt: skip


@pytest.mark.django_db
def test_activity_uses_the_choice_lists_and_corrections_are_audited():
    lead = LeadFactory()
    rep = UserFactory(username="rep")
    when = timezone.make_aware(datetime.datetime(2026, 11, 20, 14, 0))
    activity = activity_create(
        lead=lead, type="phone", result="continue", source="hot_list", content="不在",
        occurred_at=when, actor=rep,
    )  # fmt: skip
    lead.refresh_from_db()
    assert lead.last_activity_at == when
    with pytest.raises(ValidationError) as info:
        activity_create(lead=lead, type="fax", result="won", actor=rep)
    assert set(info.value.message_dict) == {"type", "result"}
    assert "phone" in info.value.message_dict["type"][0]

    corrected = activity_correct(
        activity=activity, changes={"result": "opportunity", "content": "商談化"}, by=rep,
        reason="入力ミス",
    )  # fmt: skip
    assert corrected.result == "opportunity"
    audit = activity.corrections.get()
    assert audit.changes == {"result": ["continue", "opportunity"], "content": ["不在", "商談化"]}
    assert audit.corrected_by == rep and audit.reason == "入力ミス"
    with pytest.raises(ValidationError):
        activity_correct(activity=activity, changes={"lead": 1}, by=rep)


@pytest.mark.django_db
def test_lists_remember_who_added_and_removed():
    lead_a, lead_b = LeadFactory(), LeadFactory()
    user = UserFactory()
    static_list = StaticListFactory()
    assert list_add(static_list=static_list, lead_ids=[lead_a.pk, lead_b.pk], actor_kind="user",
                    by=user) == 2  # fmt: skip
    assert list_add(static_list=static_list, lead_ids=[lead_a.pk], actor_kind="user") == 0
    assert list_remove(static_list=static_list, lead_ids=[lead_a.pk], by=user) == 1
    assert list_add(static_list=static_list, lead_ids=[lead_a.pk], actor_kind="api") == 1
    rows = ListMembership.objects.filter(lead=lead_a).order_by("id")
    assert [(r.added_by_kind, r.removed_by) for r in rows] == [("user", user), ("api", None)]
    assert rows[0].removed_at is not None


@pytest.mark.django_db
def test_suppression_is_idempotent_per_channel():
    lead = LeadFactory()
    first = suppression_add(lead=lead, channel="email", reason="unsubscribe")
    second = suppression_add(lead=lead, channel="email", reason="complaint")
    assert first.pk == second.pk
    suppression_add(lead=lead, channel="newsletter", reason="unsubscribe")
    assert Suppression.objects.filter(lead=lead).count() == 2


@pytest.mark.django_db
def test_merge_moves_everything_and_is_audited():
    # given two records of the same person
    user = UserFactory()
    survivor = LeadFactory(email="taro@acme.co.jp", title="", phone="")
    merged = LeadFactory(email="t.yamada@acme.co.jp", title="部長", phone="03-1234-5678",
                         custom={"budget": 100})  # fmt: skip
    static_list = StaticListFactory()
    tags_change(lead=survivor, add=["展示会"], actor_kind="user")
    tags_change(lead=merged, add=["展示会", "資料請求"], actor_kind="form")
    activity_create(lead=merged, type="mail", result="continue", actor=user)
    list_add(static_list=static_list, lead_ids=[survivor.pk, merged.pk], actor_kind="user")
    consent_record(lead=merged, basis=Consent.Basis.FORM, source_ref="資料請求フォーム v3",
                   text_shown="メールを受け取る")  # fmt: skip
    suppression_add(lead=merged, channel="newsletter", reason="unsubscribe")
    heard = []

    def receiver(sender, survivor_id, merged_id, moved, **kwargs):
        heard.append((survivor_id, merged_id))
        moved["events"] = 0

    signals.lead_merging.connect(receiver)
    try:
        # when
        audit = lead_merge(survivor=survivor, merged=merged, by=user)
    finally:
        signals.lead_merging.disconnect(receiver)
    # then the survivor has both records' data
    survivor.refresh_from_db()
    assert sorted(survivor.lead_tags.values_list("tag__name", flat=True)) == ["展示会", "資料請求"]
    assert survivor.activities.count() == 1
    assert survivor.consents.get().source_ref == "資料請求フォーム v3"
    assert survivor.suppressions.get().channel == "newsletter"
    assert ListMembership.objects.filter(static_list=static_list).count() == 1
    assert survivor.title == "部長" and survivor.phone == "03-1234-5678"
    assert survivor.custom == {"budget": 100}
    assert heard == [(survivor.pk, audit.merged_lead_id)]
    # and the merge is audited, the merged lead gone
    audit = LeadMerge.objects.get()
    assert audit.merged_email == "t.yamada@acme.co.jp" and audit.merged_by == user
    assert audit.moved["activities"] == 1 and "events" in audit.moved
    assert audit.merged_snapshot["title"] == "部長"
    assert not type(merged).objects.filter(pk=merged.pk).exists()
    assert Activity.objects.count() == 1


@pytest.mark.django_db
def test_a_lead_cannot_be_merged_into_itself():
    lead = LeadFactory()
    with pytest.raises(ValidationError):
        lead_merge(survivor=lead, merged=lead)


@pytest.mark.django_db
def test_owner_is_set_for_many_leads_in_one_statement(django_assert_num_queries):
    from leads.services import leads_set_owner

    rep = UserFactory(username="bulk-rep")
    leads = [LeadFactory() for _ in range(3)]
    leads[0].owner = rep
    leads[0].save()
    with django_assert_num_queries(1):
        changed = leads_set_owner(lead_ids=[lead.pk for lead in leads], owner=rep)
    assert changed == 2  # the lead rep already owned is left alone
    assert {lead.owner_id for lead in type(leads[0]).objects.all()} == {rep.pk}
