"""Each trigger kind enrolls the right leads, once: tags added and removed,
form submitted, page visited, email clicked, returned after absence (from the
events the tracking writer records), rank changed, segment entered and a date
field (checked by the dispatcher), and manual / API."""

import datetime
import uuid
import zoneinfo

import pytest
import time_machine
from django.utils import timezone

from leads.models import ActorKind, CustomField, Segment
from leads.services import tags_add_bulk, tags_remove_bulk
from leads.tests.factories import LeadFactory
from scenarios.engine import scenario_triggers_check
from scenarios.models import ScenarioEnrollment
from tracking import writer

from .conftest import make_scenario

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
END = [{"key": "end", "kind": "end"}]


def enrolled(scenario) -> set[int]:
    runs = ScenarioEnrollment.objects.filter(scenario=scenario)
    return set(runs.values_list("lead_id", flat=True))


def event(lead, type_, url="https://www.example.co.jp/", **properties):
    return {
        "uid": str(uuid.uuid4()), "type": type_, "occurred_at": timezone.now().isoformat(),
        "site_id": None, "anon_id": None, "lead_id": lead.pk, "url": url, "title": "",
        "referrer": "", "properties": properties,
    }  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_tag_added_and_tag_removed():
    added = make_scenario("資料A", END, trigger="tag_added", trigger_config={"tag": "資料A"})
    removed = make_scenario("外れ", END, trigger="tag_removed", trigger_config={"tag": "資料A"})
    lead, other = LeadFactory(), LeadFactory()
    tags_add_bulk(lead_ids=[lead.pk], names=["資料A"], actor_kind=ActorKind.USER)
    tags_add_bulk(lead_ids=[other.pk], names=["資料B"], actor_kind=ActorKind.USER)
    assert enrolled(added) == {lead.pk} and enrolled(removed) == set()
    tags_remove_bulk(lead_ids=[lead.pk], names=["資料A"], actor_kind=ActorKind.USER)
    assert enrolled(removed) == {lead.pk}


@pytest.mark.django_db(transaction=True)
def test_events_fire_form_page_click_and_return_triggers():
    form = make_scenario("フォーム", END, trigger="form_submitted",
                         trigger_config={"form": "whitepaper"})  # fmt: skip
    page = make_scenario("料金ページ", END, trigger="page_visited",
                         trigger_config={"url": "/pricing"})  # fmt: skip
    click = make_scenario("クリック", END, trigger="email_clicked")
    back = make_scenario("久しぶり", END, trigger="returned_after_absence")
    a, b, c, d = LeadFactory(), LeadFactory(), LeadFactory(), LeadFactory()
    writer.write_batch([
        event(a, "form_submit", form="whitepaper"),
        event(b, "form_submit", form="seminar"),      # another form: not this trigger
        event(b, "page_view", url="https://www.example.co.jp/pricing/"),
        event(c, "page_view", url="https://www.example.co.jp/blog/"),  # not the page
        event(c, "email_click", url="https://www.example.co.jp/docs", send=1),
        event(d, "returned_after_absence"),
    ])  # fmt: skip
    assert enrolled(form) == {a.pk}
    assert enrolled(page) == {b.pk}
    assert enrolled(click) == {c.pk}
    assert enrolled(back) == {d.pk}


@pytest.mark.django_db(transaction=True)
def test_rank_changed_to_hot():
    from scoring.signals import rank_changed

    hot = make_scenario("HOT化", END, trigger="rank_changed", trigger_config={"rank": "HOT"})
    up, down = LeadFactory(), LeadFactory()
    rank_changed.send(sender=None, changes=[(up.pk, "WARM", "HOT"), (down.pk, "HOT", "WARM")])
    assert enrolled(hot) == {up.pk}


@pytest.mark.django_db(transaction=True)
def test_segment_entered_enrolls_newcomers_at_each_check():
    segment = Segment.objects.create(
        name="製造業", expression="1",
        blocks={"1": {"kind": "tag", "op": "has", "value": "製造業"}},
    )  # fmt: skip
    scenario = make_scenario("製造業向け", END, trigger="segment_entered",
                             trigger_config={"segment": segment.pk})  # fmt: skip
    first, later = LeadFactory(), LeadFactory()
    tags_add_bulk(lead_ids=[first.pk], names=["製造業"], actor_kind=ActorKind.USER)
    scenario_triggers_check()
    assert enrolled(scenario) == {first.pk}
    tags_add_bulk(lead_ids=[later.pk], names=["製造業"], actor_kind=ActorKind.USER)
    scenario_triggers_check()
    scenario_triggers_check()
    assert enrolled(scenario) == {first.pk, later.pk}
    assert ScenarioEnrollment.objects.filter(scenario=scenario).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_seminar_date_minus_seven_days_at_the_seminars_hour():
    # given a seminar on Tuesday 2026-03-17 at 14:00 (Tokyo) in a custom field
    CustomField.objects.create(key="seminar_at", label="セミナー日時", type="text")
    scenario = make_scenario("セミナーリマインド", END, trigger="date_field",
                             trigger_config={"field": "seminar_at", "offset_days": -7})  # fmt: skip
    lead = LeadFactory(custom={"seminar_at": "2026-03-17T14:00"})
    LeadFactory(custom={"seminar_at": "2026-03-30T14:00"})  # later seminar
    reminder = datetime.datetime(2026, 3, 10, 14, 0, tzinfo=TOKYO)

    # then a second before 7 days ahead at 14:00 nobody enters; at 14:00 the lead does
    with time_machine.travel(reminder - datetime.timedelta(seconds=1), tick=False):
        scenario_triggers_check()
    assert enrolled(scenario) == set()
    with time_machine.travel(reminder + datetime.timedelta(minutes=3), tick=False):
        scenario_triggers_check()
        scenario_triggers_check()
    run = ScenarioEnrollment.objects.get(scenario=scenario)
    assert run.lead_id == lead.pk
    assert run.started_at == reminder  # its start is the seminar's hour, not the tick's


@pytest.mark.django_db
def test_manual_enrollment_through_the_api(marketer_api):
    scenario = make_scenario("手動", END)
    lead = LeadFactory()
    response = marketer_api.post(
        f"/api/v1/scenarios/{scenario.pk}/enroll/", {"leads": [lead.pk, 999999]}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"enrolled": 1, "unknown_leads": [999999]}
    assert enrolled(scenario) == {lead.pk}
