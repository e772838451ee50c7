"""An activity with the result 商談化 hands the lead to kintone once, with
its fields mapped, through the documented upsert call."""

import pytest
from django.conf import settings

from leads.models import Lead, Tag
from leads.services import activity_create, tags_change
from sfa_sync.models import OutboxItem, SyncLink
from sfa_sync.outbox import outbox_dispatch
from sfa_sync.services import handoff_request

from .conftest import kintone_connector, make_leads


@pytest.mark.django_db(transaction=True)
def test_an_opportunity_activity_reaches_kintone_once_with_its_fields_mapped(
    kintone, connector, rep, activity_choices
):
    # given a lead with tags, an owner and a score
    lead = make_leads(1, owner=rep)[0]
    Lead.objects.filter(pk=lead.pk).update(score=87, rank="HOT")
    tags_change(lead=lead, add=["展示会2026", "資料請求"], actor_kind="system")

    # when inside sales logs a call with the result opportunity (商談化), twice over
    activity_create(lead=lead, type="phone", result="opportunity", content="予算確保済み")
    activity_create(lead=lead, type="visit", result="opportunity", content="訪問")
    outbox_dispatch()
    outbox_dispatch()

    # then kintone holds exactly one record for the lead, sent in one request
    assert list(kintone.records) == [str(lead.pk)]
    assert kintone.puts == [1]
    record = kintone.records[str(lead.pk)]
    lead.refresh_from_db()
    assert record["email"]["value"] == lead.email
    assert record["name"]["value"] == "山田 太郎0"
    assert record["company"]["value"] == "株式会社テスト0"
    assert record["phone"]["value"] == "03-0000-0000"
    assert record["score"]["value"] == "87"
    assert record["rank"]["value"] == "HOT"
    assert record["tags"]["value"] == "展示会2026, 資料請求"
    assert record["owner"]["value"] == "鈴木 次郎"
    assert record["last_activity"]["value"].startswith(f"{lead.last_activity_at:%Y-%m-%dT}")
    assert (
        record["kizuki_url"]["value"] == f"{settings.PUBLIC_URL}/admin/leads/lead/{lead.pk}/change/"
    )
    # the call was the documented upsert with updateKey and the token header
    put = kintone.requests[0]
    assert put["path"] == "/k/v1/records.json"
    assert put["body"]["upsert"] is True
    assert put["body"]["records"][0]["updateKey"] == {
        "field": "kizuki_lead_id",
        "value": str(lead.pk),
    }
    # and the link and the outbox row say so
    link = SyncLink.objects.get(lead=lead, connector=connector)
    assert link.reason == "opportunity" and link.external_id == "1"
    assert link.pushed_score == 87
    handoff = OutboxItem.objects.get(lead=lead, kind="handoff")
    assert handoff.state == "sent" and handoff.attempts == 1
    assert handoff.payload["sent"]["score"] == {"value": "87"}


@pytest.mark.django_db(transaction=True)
def test_only_the_opportunity_result_hands_a_lead_over(kintone, connector, activity_choices):
    # given two leads; one call goes on (継続), the other becomes an opportunity
    going_on, opportunity = make_leads(2)
    activity_create(lead=going_on, type="phone", result="continue")
    activity_create(lead=opportunity, type="phone", result="opportunity")
    # when the dispatcher runs
    outbox_dispatch()
    # then only the opportunity is in kintone
    assert list(kintone.records) == [str(opportunity.pk)]
    assert list(SyncLink.objects.values_list("lead_id", flat=True)) == [opportunity.pk]


@pytest.mark.django_db
def test_a_guest_space_app_is_reached_by_its_guest_path_and_email_can_be_the_key(
    kintone_server,
):
    # given an app in guest space 3 keyed by email
    server = kintone_server(guest_space=3, key_field="メールアドレス")
    connector = kintone_connector(
        server,
        field_map={"email": "メールアドレス", "score": "score", "full_name": "氏名"},
    )
    lead = make_leads(1)[0]
    # when the lead is handed over by the lead-page button's service
    assert handoff_request(lead_id=lead.pk, reason="manual") == 1
    outbox_dispatch()
    # then the record sits under its email, reached by the guest-space path
    assert server.requests[0]["path"] == "/k/guest/3/v1/records.json"
    assert server.records[lead.email]["氏名"]["value"] == "山田 太郎0"
    assert SyncLink.objects.get(lead=lead, connector=connector).reason == "manual"


@pytest.mark.django_db
def test_a_wrong_token_is_refused_and_parked_without_a_record(kintone):
    # given a connector whose token kintone does not know
    kintone_connector(kintone, api_token="not-the-token-of-this-app")
    lead = make_leads(1)[0]
    handoff_request(lead_id=lead.pk, reason="manual")
    # when the dispatcher sends
    outbox_dispatch()
    # then kintone refused it (401), nothing was written, and the row is parked with the error
    assert kintone.records == {}
    item = OutboxItem.objects.get()
    assert item.state == "failed"
    assert "HTTP 401 GAIA_IA02" in item.last_error
    assert "not-the-token" not in item.last_error


@pytest.mark.django_db
def test_handing_over_again_does_not_create_a_second_handoff(kintone, connector):
    lead = make_leads(1)[0]
    assert handoff_request(lead_id=lead.pk, reason="manual") == 1
    outbox_dispatch()
    # when the button is pressed again
    assert handoff_request(lead_id=lead.pk, reason="manual") == 0
    # then an update (not a handoff) is queued, and kintone still has one record
    assert list(OutboxItem.objects.values_list("kind", flat=True).order_by("id")) == [
        "handoff",
        "update",
    ]
    assert SyncLink.objects.count() == 1
    assert len(kintone.records) == 1
    assert Tag.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_workbench_opportunity_is_handed_over_and_the_member_stops_waiting(
    kintone, connector, rep, activity_choices
):
    import datetime

    from leads.models import Segment
    from leads.segments import install_presets
    from scoring.hotlists.models import HotList, HotListMember, HotListRun
    from scoring.hotlists.services import member_log_activity

    # given a lead on this week's HOT list
    lead = make_leads(1, owner=rep)[0]
    install_presets()
    hot_list = HotList.objects.create(
        name="HOT", segment=Segment.objects.get(preset_key="hot_leads")
    )
    run = HotListRun.objects.create(hot_list=hot_list, week_start=datetime.date(2026, 11, 23))
    member = HotListMember.objects.create(run=run, lead=lead, rank="HOT", score=120)
    # when inside sales log 商談化 on the workbench
    logged = member_log_activity(
        member=member, by=rep,
        data={"occurred_at": "2026-11-23", "type": "phone", "result": "opportunity",
              "content": "予算あり"},
    )  # fmt: skip
    assert logged.handoff == "pending"
    outbox_dispatch()
    # then kintone has the lead once, and the member no longer waits for the SFA
    assert list(kintone.records) == [str(lead.pk)]
    member.refresh_from_db()
    assert member.handoff == "done"
