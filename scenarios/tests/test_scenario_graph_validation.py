"""A scenario graph is checked before it is saved: an edge to a missing step,
a step nothing reaches, a loop without a wait and bad settings are refused
with a message naming the step — in the API (400, error shape) and the admin."""

import pytest
from django.core.exceptions import ValidationError

from scenarios.graph import check_graph, graph_svg
from scenarios.models import Scenario


def steps(*rows):
    return [
        {"key": k, "kind": kind, "config": config, "next_key": nxt, "else_key": other,
         "position": i}
        for i, (k, kind, config, nxt, other) in enumerate(rows)
    ]  # fmt: skip


TAG = {"condition": {"kind": "tag", "op": "has", "value": "資料A"}}


def errors_of(graph) -> dict:
    with pytest.raises(ValidationError) as caught:
        check_graph(graph)
    return caught.value.message_dict


@pytest.mark.django_db
def test_a_dangling_edge_is_named():
    errors = errors_of(steps(("a", "add_tag", {"tag": "x"}, "nowhere", "")))
    assert errors == {
        "steps.a": ["Step “a” leads to “nowhere”, which is not a step of this scenario."]
    }


@pytest.mark.django_db
def test_an_unreachable_step_is_named():
    errors = errors_of(steps(("a", "add_tag", {"tag": "x"}, "", ""), ("lost", "end", {}, "", "")))
    assert errors == {"steps.lost": ["Step “lost” cannot be reached from the first step “a”."]}


@pytest.mark.django_db
def test_a_loop_without_a_wait_is_refused_and_with_a_wait_accepted():
    loop = steps(
        ("check", "branch", TAG, "tag", "done"),
        ("tag", "add_tag", {"tag": "x"}, "check", ""),
        ("done", "end", {}, "", ""),
    )
    assert errors_of(loop) == {
        "steps.check": ["The loop check → tag → check has no wait step: a lead would go round "
                        "it forever."]
    }  # fmt: skip
    with_wait = steps(
        ("check", "branch", TAG, "wait", "done"),
        ("wait", "wait", {"days": 1}, "check", ""),
        ("done", "end", {}, "", ""),
    )
    assert [s["key"] for s in check_graph(with_wait)] == ["check", "wait", "done"]


@pytest.mark.django_db
def test_bad_settings_are_explained():
    errors = errors_of(
        steps(
            ("w", "wait", {"weekday": 9, "time": "09:00"}, "b", ""),
            ("b", "branch", {"condition": {"kind": "nope"}}, "m", "m"),
            ("m", "send_email", {"template": 999999}, "h", ""),
            ("h", "webhook", {"url": "ftp://x", "secret": "short"}, "", ""),
        )
    )
    assert errors["steps.w"] == ["The weekday is 0 (Monday) to 6 (Sunday)."]
    assert errors["steps.b"] == ["Unknown condition “nope”."]
    assert errors["steps.m"] == ["Choose an existing email template (its id)."]
    assert errors["steps.h"] == ["The webhook needs an http(s) URL."]


@pytest.mark.django_db
def test_the_api_answers_400_with_the_error_shape_and_saves_nothing(marketer_api):
    body = {
        "name": "ループ",
        "trigger": "tag_added",
        "trigger_config": {"tag": "資料A"},
        "steps": [
            {"key": "check", "kind": "branch", "config": TAG, "next_key": "tag",
             "else_key": "done"},
            {"key": "tag", "kind": "add_tag", "config": {"tag": "x"}, "next_key": "check"},
            {"key": "done", "kind": "end", "next_key": "ghost"},
        ],
    }  # fmt: skip
    response = marketer_api.post("/api/v1/scenarios/", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error["fields"]) == {"steps.done"}
    assert Scenario.objects.count() == 0

    body["steps"][2] = {"key": "done", "kind": "end"}
    body["steps"][1]["next_key"] = "done"
    response = marketer_api.post("/api/v1/scenarios/", body, format="json")
    assert response.status_code == 201, response.json()
    assert [s["key"] for s in response.json()["steps"]] == ["check", "tag", "done"]

    missing_tag = {**body, "name": "タグなし", "trigger_config": {}}
    response = marketer_api.post("/api/v1/scenarios/", missing_tag, format="json")
    assert response.status_code == 400
    assert "trigger_config" in response.json()["error"]["fields"]


@pytest.mark.django_db
def test_the_admin_refuses_a_loop_with_a_message_and_draws_a_saved_graph(admin_client):
    # given the admin's add form with a loop without a wait
    data = {
        "name": "管理画面", "description": "", "trigger": "manual", "trigger_config": "{}",
        "reentry": "once", "exit_tags": '["失注"]', "exit_on_unsubscribe": "on",
        "exit_on_customer": "on", "is_active": "on",
        "steps-TOTAL_FORMS": "2", "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "1000",
        "steps-0-position": "0", "steps-0-key": "a", "steps-0-kind": "add_tag",
        "steps-0-config": '{"tag": "x"}', "steps-0-next_key": "b", "steps-0-else_key": "",
        "steps-1-position": "1", "steps-1-key": "b", "steps-1-kind": "remove_tag",
        "steps-1-config": '{"tag": "x"}', "steps-1-next_key": "a", "steps-1-else_key": "",
    }  # fmt: skip
    response = admin_client.post("/admin/scenarios/scenario/add/", data)
    assert response.status_code == 200
    assert "待機ステップがありません" in response.content.decode()
    assert Scenario.objects.count() == 0

    # when the loop is broken, it is saved and the change page shows the diagram
    data["steps-1-next_key"] = ""
    response = admin_client.post("/admin/scenarios/scenario/add/", data)
    assert response.status_code == 302
    scenario = Scenario.objects.get()
    page = admin_client.get(f"/admin/scenarios/scenario/{scenario.pk}/change/").content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="scenario-graph"' in page
    assert 'data-from="a" data-to="b"' in page


def test_the_diagram_draws_yes_and_no_edges():
    svg = graph_svg(
        steps(("q", "branch", TAG, "y", "n"), ("y", "end", {}, "", ""), ("n", "end", {}, "", ""))
    )
    assert 'data-from="q" data-to="y"' in svg
    assert 'data-from="q" data-to="n"' in svg and 'stroke-dasharray="5,4"' in svg
    assert svg.count('class="step"') == 3
