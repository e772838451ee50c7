"""Re-entry policies: "once" never enrolls a lead twice, "after exit" again
only when its earlier run has ended, "always" every time the trigger fires."""

import pytest

from leads.models import ActorKind
from leads.services import tags_add_bulk, tags_remove_bulk
from leads.tests.factories import LeadFactory
from scenarios.engine import enrollments_leave, scenario_enroll
from scenarios.models import ScenarioEnrollment

from .conftest import make_scenario

STEPS = [{"key": "w", "kind": "wait", "config": {"days": 3}, "next_key": "end"},
         {"key": "end", "kind": "end"}]  # fmt: skip


def runs(scenario, lead) -> list[str]:
    return list(
        ScenarioEnrollment.objects.filter(scenario=scenario, lead=lead)
        .order_by("id")
        .values_list("state", flat=True)
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("policy", "after_second", "after_exit"),
    [
        ("once", ["active"], ["exited"]),
        ("after_exit", ["active"], ["exited", "active"]),
        ("always", ["active", "active"], ["exited", "exited", "active"]),
    ],
)
def test_reentry_policies(policy, after_second, after_exit):
    scenario = make_scenario(f"再入 {policy}", STEPS, reentry=policy)
    lead = LeadFactory()
    scenario_enroll(scenario=scenario, lead_ids=[lead.pk])
    scenario_enroll(scenario=scenario, lead_ids=[lead.pk])
    assert runs(scenario, lead) == after_second
    enrollments_leave(lead_ids=[lead.pk], reason="test")
    scenario_enroll(scenario=scenario, lead_ids=[lead.pk])
    assert runs(scenario, lead) == after_exit


@pytest.mark.django_db(transaction=True)
def test_a_tag_added_again_reenters_only_after_exit():
    scenario = make_scenario("再入タグ", STEPS, reentry="after_exit", trigger="tag_added",
                             trigger_config={"tag": "資料A"})  # fmt: skip
    lead = LeadFactory()
    for _round in range(2):
        tags_add_bulk(lead_ids=[lead.pk], names=["資料A"], actor_kind=ActorKind.USER)
        tags_remove_bulk(lead_ids=[lead.pk], names=["資料A"], actor_kind=ActorKind.USER)
    assert runs(scenario, lead) == ["active"]
