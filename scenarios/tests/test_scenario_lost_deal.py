"""Exit on 失注: a lead tagged 失注 leaves the nurture scenario at once (its
mail not yet sent is stopped) and enters the lost-deal scenario, which that
same tag triggers."""

import datetime
import zoneinfo

import pytest
import time_machine

from leads.models import ActorKind
from leads.services import tags_add_bulk
from scenarios.engine import scenario_enroll
from scenarios.models import EmailTemplate, ScenarioEnrollment, Send

from .conftest import consenting_lead, make_scenario, received, run_dispatch

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
MON = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=TOKYO)


@pytest.mark.django_db(transaction=True)
def test_lost_deal_moves_the_lead_to_the_lost_deal_scenario(profile, template, smtp_settings):
    # given a nurture scenario that leaves on 失注 and a lost-deal scenario started by it
    follow = EmailTemplate.objects.create(name="続報", subject="続報です", html_body="<p>x</p>")
    sorry = EmailTemplate.objects.create(
        name="失注フォロー", subject="またのご検討を", html_body="<p>y</p>"
    )
    nurture = make_scenario(
        "ナーチャリング",
        [
            {"key": "m1", "kind": "send_email", "config": {"template": template.pk},
             "next_key": "w"},
            {"key": "w", "kind": "wait", "config": {"days": 1}, "next_key": "m2"},
            {"key": "m2", "kind": "send_email", "config": {"template": follow.pk}},
        ],
        exit_tags=["失注"],
    )  # fmt: skip
    lost = make_scenario(
        "失注後",
        [{"key": "sorry", "kind": "send_email", "config": {"template": sorry.pk}}],
        trigger="tag_added",
        trigger_config={"tag": "失注"},
    )
    lead = consenting_lead()
    with time_machine.travel(MON, tick=False):
        scenario_enroll(scenario=nurture, lead_ids=[lead.pk])
    run_dispatch(MON)

    # when the deal is lost (the SFA or a rep adds 失注) before the second mail
    with time_machine.travel(MON + datetime.timedelta(hours=5), tick=False):
        tags_add_bulk(lead_ids=[lead.pk], names=["失注"], actor_kind=ActorKind.SFA)
    run_dispatch(MON + datetime.timedelta(hours=5))
    run_dispatch(MON + datetime.timedelta(days=2))

    # then it left the nurture, got the lost-deal mail, and never the second nurture mail
    runs = {r.scenario_id: r for r in ScenarioEnrollment.objects.filter(lead=lead)}
    assert runs[nurture.pk].state == "exited"
    assert "失注" in runs[nurture.pk].exit_reason
    assert runs[lost.pk].state == "completed"
    subjects = [m["Subject"] for m in received(smtp_settings)]
    assert len(subjects) == 2
    assert subjects[0].endswith("資料Aのご案内") and subjects[1] == "またのご検討を"
    assert not Send.objects.filter(template=follow).exists()


@pytest.mark.django_db(transaction=True)
def test_a_lead_with_the_exit_tag_does_not_enter_and_a_customer_leaves():
    from leads.tests.factories import LeadFactory

    scenario = make_scenario(
        "育成",
        [{"key": "w", "kind": "wait", "config": {"days": 1}, "next_key": "t"},
         {"key": "t", "kind": "add_tag", "config": {"tag": "育成済"}}],
        exit_tags=["失注"],
    )  # fmt: skip
    tagged, becomes_customer = LeadFactory(), LeadFactory()
    tags_add_bulk(lead_ids=[tagged.pk], names=["失注"], actor_kind=ActorKind.USER)
    with time_machine.travel(MON, tick=False):
        assert scenario_enroll(scenario=scenario, lead_ids=[tagged.pk, becomes_customer.pk]) == 1
    type(becomes_customer).objects.filter(pk=becomes_customer.pk).update(stage="customer")
    # the next tick ends the run although its wait has most of a day to go
    run_dispatch(MON + datetime.timedelta(minutes=1))
    run = ScenarioEnrollment.objects.get()
    assert (run.lead_id, run.state, run.exit_reason) == (
        becomes_customer.pk, "exited", "Became a customer"
    )  # fmt: skip
