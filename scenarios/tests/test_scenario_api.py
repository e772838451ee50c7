"""Scenarios over the API: create, read, change the graph (a lead on a kept
step stays on it), delete; sales reps may not configure them."""

import pytest

from leads.tests.factories import LeadFactory
from scenarios.engine import scenario_enroll
from scenarios.models import Scenario, ScenarioEnrollment

STEPS = [
    {"key": "w", "kind": "wait", "config": {"days": 1}, "next_key": "t"},
    {"key": "t", "kind": "add_tag", "config": {"tag": "育成"}},
]


@pytest.mark.django_db
def test_crud_keeps_leads_on_kept_steps(marketer_api):
    response = marketer_api.post(
        "/api/v1/scenarios/",
        {"name": "育成", "trigger": "tag_added", "trigger_config": {"tag": "資料A"},
         "reentry": "after_exit", "exit_tags": ["失注"], "steps": STEPS},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    scenario = Scenario.objects.get()
    lead = LeadFactory()
    scenario_enroll(scenario=scenario, lead_ids=[lead.pk])
    run = ScenarioEnrollment.objects.get()
    assert run.step.key == "w"

    # when the graph gets a step after the wait and the tag step is dropped
    new_steps = [
        {"key": "w", "kind": "wait", "config": {"days": 2}, "next_key": "end"},
        {"key": "end", "kind": "end"},
    ]
    response = marketer_api.patch(
        f"/api/v1/scenarios/{scenario.pk}/", {"steps": new_steps}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert [s["key"] for s in response.json()["steps"]] == ["w", "end"]
    run.refresh_from_db()
    assert (run.state, run.step.key, run.step.config) == ("active", "w", {"days": 2})

    response = marketer_api.patch(
        f"/api/v1/scenarios/{scenario.pk}/", {"exit_tags": "失注"}, format="json"
    )
    assert response.status_code == 400
    assert marketer_api.get(f"/api/v1/scenarios/{scenario.pk}/").json()["exit_tags"] == ["失注"]
    assert marketer_api.delete(f"/api/v1/scenarios/{scenario.pk}/").status_code == 204
    assert not Scenario.objects.exists()


@pytest.mark.django_db
def test_a_sales_rep_cannot_create_a_scenario(sales_api):
    response = sales_api.post("/api/v1/scenarios/", {"name": "x", "steps": STEPS}, format="json")
    assert response.status_code == 403
