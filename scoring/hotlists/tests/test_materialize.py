"""Monday's generation: exactly the seed-004 matches, a dated snapshot with
rank, score, reasons and priority; idempotent; open members carry over."""

import datetime

import pytest
import time_machine

from leads.models import Lead, Segment
from leads.services import activity_create, tags_add_bulk, tags_ensure
from scoring.hotlists.models import HotListMember, HotListRun
from scoring.hotlists.services import hot_list_materialize, member_remove
from scoring.hotlists.tests.conftest import MONDAY_9, behave
from scoring.models import ScoreRule, TagAdjustment
from scoring.selectors import lead_explanation
from scoring.services import ledger_from_events, like_pattern, score_leads

WEEK = datetime.timedelta(days=7)


def members_of(run: HotListRun) -> dict[str, HotListMember]:
    return {m.lead.email: m for m in run.members.select_related("lead").order_by("position")}


@pytest.mark.django_db
def test_monday_generation_picks_exactly_the_seed_004_matches(hot_list, make_lead, inside, site):
    # given leads around every edge of the seed-004 search
    make_lead("hot@example.jp", page_views=16, forms=1)
    make_lead("fifteen@example.jp", page_views=15, forms=1)
    make_lead("fourteen@example.jp", page_views=14, forms=1)
    make_lead("noform@example.jp", page_views=30, forms=0)
    called = make_lead("called@example.jp", page_views=16, forms=1)
    activity_create(lead=called, type="phone", result="continue", actor=inside)
    make_lead("rival@example.jp", page_views=16, forms=1, is_competitor=True)
    make_lead("optout@example.jp", page_views=16, forms=1, is_nurture_target=False)
    old = make_lead("old@example.jp", page_views=0, forms=1)
    behave(site, old, page_views=16, at=MONDAY_9 - datetime.timedelta(days=31))

    # when Monday's list is made
    with time_machine.travel(MONDAY_9, tick=False):
        run = hot_list_materialize(hot_list=hot_list)

    # then exactly the leads with ≥ 15 page views in 30 days, a form and no activity
    assert set(members_of(run)) == {"hot@example.jp", "fifteen@example.jp"}
    assert run.week_start == datetime.date(2026, 11, 16)
    assert run.member_count == 2 and run.carried_over_count == 0


@pytest.mark.django_db
def test_the_snapshot_keeps_rank_score_reasons_and_priority(hot_list, make_lead):
    # given scored leads: two HOT with different scores, one WARM
    ScoreRule.objects.create(
        name="ページ閲覧", event_type="page_view", url_like=like_pattern(""), points=5
    )
    ScoreRule.objects.create(
        name="フォーム送信", event_type="form_submit", url_like=like_pattern(""), points=30
    )
    TagAdjustment.objects.create(tag=tags_ensure(["展示会"])["展示会"], points=10)
    first = make_lead("first@example.jp", page_views=30, forms=1)
    make_lead("second@example.jp", page_views=20, forms=1)
    warm = make_lead("warm@example.jp", page_views=16, forms=1)
    tags_add_bulk(lead_ids=[first.pk], names=["展示会"], actor_kind="import")
    with time_machine.travel(MONDAY_9, tick=False):
        ledger_from_events()
        score_leads(None)
        Lead.objects.filter(pk=warm.pk).update(rank="WARM")

        # when the list is made
        run = hot_list_materialize(hot_list=hot_list)

    # then members are in priority order with their score and reasons of the time
    members = members_of(run)
    assert list(members) == ["first@example.jp", "second@example.jp", "warm@example.jp"]
    top = members["first@example.jp"]
    assert (top.position, top.rank, top.score) == (1, "HOT", 30 * 5 + 30 + 10)
    assert top.reasons == [
        {"kind": "behaviour", "name": "ページ閲覧", "points": 150},
        {"kind": "behaviour", "name": "フォーム送信", "points": 30},
        {"kind": "tag", "name": "展示会", "points": 10},
    ]
    # the same parts the live explanation gives
    explained = lead_explanation(first, now=MONDAY_9)
    assert {r["name"]: r["points"] for r in explained["behaviour"]["rules"]} == {
        r["name"]: r["points"] for r in top.reasons if r["kind"] == "behaviour"
    }
    assert members["warm@example.jp"].rank == "WARM"
    assert members["warm@example.jp"].last_behaviour_at is not None

    # and a later change of score does not change the snapshot
    Lead.objects.filter(pk=first.pk).update(score=0, rank="COLD")
    assert HotListMember.objects.get(pk=top.pk).score == 190


@pytest.mark.django_db
def test_generating_twice_in_a_week_does_not_duplicate(hot_list, make_lead):
    make_lead("a@example.jp")
    with time_machine.travel(MONDAY_9, tick=False):
        first = hot_list_materialize(hot_list=hot_list)
    make_lead("b@example.jp", at=MONDAY_9 + datetime.timedelta(hours=2))
    with time_machine.travel(MONDAY_9 + datetime.timedelta(hours=3), tick=False):
        again = hot_list_materialize(hot_list=hot_list)
        again_twice = hot_list_materialize(hot_list=hot_list)

    assert first.pk == again.pk == again_twice.pk
    assert HotListRun.objects.count() == 1
    assert sorted(members_of(again)) == ["a@example.jp", "b@example.jp"]
    assert HotListMember.objects.count() == 2


@pytest.mark.django_db
def test_open_members_of_last_week_carry_over(hot_list, make_lead, inside):
    # given last week's list of four
    start = MONDAY_9 - WEEK
    leads = {
        name: make_lead(f"{name}@example.jp", at=start)
        for name in ("open", "continued", "won", "archived", "removed")
    }
    with time_machine.travel(start, tick=False):
        last_week = hot_list_materialize(hot_list=hot_list)
    # and during the week: a follow-up to continue, an opportunity, an archive, a removal
    with time_machine.travel(start + datetime.timedelta(days=2), tick=False):
        for name, result in (("continued", "continue"), ("won", "opportunity"),
                             ("archived", "archive")):  # fmt: skip
            activity_create(lead=leads[name], type="phone", result=result, actor=inside)
        member_remove(
            member=last_week.members.get(lead=leads["removed"]), by=inside, reason="番号違い"
        )

    # when this week's list is made (nobody new matches)
    with time_machine.travel(MONDAY_9, tick=False):
        run = hot_list_materialize(hot_list=hot_list)

    # then the unfollowed and the continuing carry over, and nothing else: the
    # lead taken off still matches the search but stays off the list
    members = members_of(run)
    assert set(members) == {"open@example.jp", "continued@example.jp"}
    assert all(m.carried_over for m in members.values())
    assert run.carried_over_count == 2
    # last week's snapshot is untouched
    assert last_week.members.count() == 5


@pytest.mark.django_db
def test_the_dig_up_preset_finds_old_deals_that_came_back(hot_segment, make_lead, inside):
    from leads.segments import segment_leads_for

    dig_up = Segment.objects.get(preset_key="dig_up_leads")
    now = MONDAY_9
    old_deal = make_lead("old-deal@example.jp", page_views=1, forms=0, at=now)
    fresh_deal = make_lead("fresh-deal@example.jp", page_views=1, forms=0, at=now)
    lost = make_lead("lost@example.jp", page_views=1, forms=0, at=now)
    gone = make_lead("gone@example.jp", page_views=1, forms=0, at=now - datetime.timedelta(days=20))
    for lead, days in ((old_deal, 200), (fresh_deal, 100), (gone, 200)):
        activity_create(
            lead=lead, type="visit", result="opportunity", actor=inside,
            occurred_at=now - datetime.timedelta(days=days),
        )  # fmt: skip
    tags_add_bulk(lead_ids=[lost.pk], names=["失注"], actor_kind="sfa")

    with time_machine.travel(now, tick=False):
        found = set(segment_leads_for(dig_up).values_list("email", flat=True))

    assert found == {"old-deal@example.jp", "lost@example.jp"}
