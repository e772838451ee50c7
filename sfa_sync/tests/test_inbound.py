"""Deals lost in kintone come back to nurture (失注, lower score); won ones
make customers; every sync shows on the lead's timeline."""

import datetime

import pytest

from leads.models import Lead, LeadTag, Tag, TagChange
from leads.timeline import lead_timeline
from scoring.models import FitRule, TagAdjustment
from scoring.services import score_leads
from sfa_sync import inbound
from sfa_sync.models import Connector, InboundUpdate, SyncLink
from sfa_sync.outbox import outbox_dispatch
from sfa_sync.services import handoffs_request

from .conftest import make_leads, wait_until


def give_points(lead: Lead, points: int) -> None:
    """Fit points from the industry: they stay whatever the scoring worker recomputes."""
    FitRule.objects.get_or_create(
        name="製造業",
        defaults={
            "points": points,
            "condition": {"field": "industry", "op": "in", "value": ["製造業"]},
        },
    )
    Lead.objects.filter(pk=lead.pk).update(industry="製造業")
    score_leads([lead.pk])


@pytest.mark.django_db(transaction=True)
def test_a_lost_deal_in_kintone_tags_the_lead_lowers_its_score_and_a_won_one_makes_a_customer(
    celery_worker_process, kintone, connector
):
    # given the 失注 penalty, a scoring worker, and two leads handed over at 120 points
    TagAdjustment.objects.create(tag=Tag.objects.create(name="失注"), points=-50)
    celery_worker_process("default")
    lost, won = make_leads(2)
    for lead in (lost, won):
        give_points(lead, 120)
    Lead.objects.filter(pk__in=[lost.pk, won.pk]).update(stage="consideration")
    handoffs_request(lead_ids=[lost.pk, won.pk], reason="opportunity")
    outbox_dispatch()

    # when sales mark one deal lost and the other won in kintone, and Kizuki polls
    kintone.edit(str(lost.pk), "商談ステータス", "失注")
    kintone.edit(str(won.pk), "商談ステータス", "受注")
    assert inbound.inbound_poll_all() == 2

    # then the lost lead is tagged 失注, back to nurturing, and scored 50 points lower
    lost.refresh_from_db()
    assert LeadTag.objects.filter(lead=lost, tag__name="失注").exists()
    assert lost.stage == "interest"
    wait_until(lambda: Lead.objects.get(pk=lost.pk).score == 70)
    # and the won lead is a customer
    won.refresh_from_db()
    assert won.stage == "customer"
    assert not LeadTag.objects.filter(lead=won, tag__name="失注").exists()
    assert dict(SyncLink.objects.values_list("lead_id", "deal_status")) == {
        lost.pk: "lost",
        won.pk: "won",
    }

    # when the poll runs again over the same records
    assert inbound.inbound_poll_all() == 0
    # then nothing is applied twice
    assert InboundUpdate.objects.count() == 2
    assert TagChange.objects.filter(tag__name="失注").count() == 1

    # and the lost lead's timeline shows the handoff and the lost deal
    titles = [entry.title for entry in lead_timeline(lost.pk).entries]
    assert "Deal Lost in kintone 商談管理" in titles
    assert "Handed over to kintone 商談管理" in titles
    assert "Tag added: 失注" in titles


@pytest.mark.django_db
def test_the_poll_pages_by_500_with_a_query_on_the_updated_time(kintone, connector):
    # given 600 handed-over leads, all lost in kintone
    leads = make_leads(600)
    handoffs_request(lead_ids=[lead.pk for lead in leads], reason="manual")
    outbox_dispatch()
    for lead in leads:
        kintone.records[str(lead.pk)]["商談ステータス"] = {"type": "DROP_DOWN", "value": "失注"}
    start = len(kintone.requests)
    # when Kizuki polls
    changed = inbound.kintone_poll(Connector.objects.get())
    # then it read two pages by the documented query and applied all 600 at once
    queries = [r["params"]["query"] for r in kintone.requests[start:]]
    since = (connector.created_at - inbound.FIRST_POLL_LOOKBACK).astimezone(datetime.UTC)
    where = f'更新日時 >= "{since:%Y-%m-%dT%H:%M:%SZ}"'
    assert queries == [
        f"{where} order by 更新日時 asc, $id asc limit 500 offset 0",
        f"{where} order by 更新日時 asc, $id asc limit 500 offset 500",
    ]
    assert kintone.requests[start]["params"]["fields[1]"] == "kizuki_lead_id"
    assert changed == 600
    assert LeadTag.objects.filter(tag__name="失注").count() == 600
    assert Lead.objects.filter(stage="interest").count() == 600
    # and the next poll starts from the newest record's time
    assert Connector.objects.get().inbound_cursor is not None
