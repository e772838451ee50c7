"""The REST API and the admin: marketers configure lists and run them now;
other roles read what they may; bad input is a 4xx in the error shape."""

import pytest
import time_machine
from django.contrib.auth import get_user_model

from leads.services import leads_set_owner
from scoring.hotlists.models import HotList, HotListRun
from scoring.hotlists.tests.conftest import MONDAY_9


@pytest.mark.django_db
def test_marketer_creates_changes_and_deletes_a_hot_list(marketer_api, hot_segment):
    inside = get_user_model().objects.create_user("team1", email="team1@example.jp")
    created = marketer_api.post(
        "/api/v1/hot-lists/",
        {
            "name": "掘り起こしリスト",
            "segment": hot_segment.pk,
            "activity_source": "dig_up_list",
            "team": [inside.pk],
            "publish_time": "08:30",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["publish_weekday"], body["publish_time"], body["team"]) == (
        0,
        "08:30:00",
        [inside.pk],
    )
    assert (body["remind_weekday"], body["report_weekday"], body["report_time"]) == (
        3,
        4,
        "17:00:00",
    )
    url = f"/api/v1/hot-lists/{body['id']}/"
    assert marketer_api.patch(url, {"top_count": 10}, format="json").json()["top_count"] == 10
    assert marketer_api.get("/api/v1/hot-lists/").json()[0]["name"] == "掘り起こしリスト"
    assert marketer_api.delete(url).status_code == 204
    assert not HotList.objects.exists()


@pytest.mark.django_db
def test_a_schedule_out_of_order_is_refused_with_a_message(marketer_api, hot_segment):
    response = marketer_api.post(
        "/api/v1/hot-lists/",
        {"name": "逆順", "segment": hot_segment.pk, "remind_weekday": 0, "remind_time": "08:00"},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] and "remind_weekday" in error["fields"]
    unknown = marketer_api.post(
        "/api/v1/hot-lists/", {"name": "x", "segment": 999999}, format="json"
    )
    assert unknown.status_code == 400 and "segment" in unknown.json()["error"]["fields"]


@pytest.mark.django_db
def test_run_now_makes_this_weeks_list_once(marketer_api, hot_list, make_lead):
    make_lead("a@example.jp")
    with time_machine.travel(MONDAY_9, tick=False):
        first = marketer_api.post(f"/api/v1/hot-lists/{hot_list.pk}/run/")
        again = marketer_api.post(f"/api/v1/hot-lists/{hot_list.pk}/run/")
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["member_count"] == 1
    assert HotListRun.objects.count() == 1


@pytest.mark.django_db
def test_roles_on_the_api(inside_api, sales_api, hot_list, make_lead):
    make_lead("a@example.jp")
    make_lead("b@example.jp")
    with time_machine.travel(MONDAY_9, tick=False):
        run = inside_api.post(f"/api/v1/hot-lists/{hot_list.pk}/run/")
    # inside sales read lists and weeks but do not configure or run them
    assert run.status_code == 403
    assert inside_api.get("/api/v1/hot-lists/").status_code == 200
    assert inside_api.post("/api/v1/hot-lists/", {"name": "x"}, format="json").status_code == 403
    from scoring.hotlists.services import hot_list_materialize

    with time_machine.travel(MONDAY_9, tick=False):
        week = hot_list_materialize(hot_list=hot_list)
    members = inside_api.get(f"/api/v1/hot-list-runs/{week.pk}/members/").json()
    assert members["count"] == 2
    # a sales rep sees only the members they own
    leads_set_owner(lead_ids=[week.members.first().lead_id], owner=sales_api.user)
    mine = sales_api.get(f"/api/v1/hot-list-runs/{week.pk}/members/").json()
    assert mine["count"] == 1
    assert sales_api.delete(f"/api/v1/hot-lists/{hot_list.pk}/").status_code == 403


@pytest.mark.django_db
def test_marketer_runs_a_list_now_from_the_admin(client, hot_list, make_lead, marketer):
    make_lead("a@example.jp")
    client.force_login(marketer)
    with time_machine.travel(MONDAY_9, tick=False):
        response = client.post(
            "/admin/scoring/hotlist/",
            {"action": "run_now", "_selected_action": [hot_list.pk]},
            follow=True,
        )
    assert response.status_code == 200
    run = HotListRun.objects.get()
    assert run.generated_by == marketer and run.member_count == 1
    assert "HOTリードリスト" in response.content.decode()
    # the list page and the change form open
    assert client.get("/admin/scoring/hotlist/").status_code == 200
    assert client.get(f"/admin/scoring/hotlist/{hot_list.pk}/change/").status_code == 200
    assert client.get("/admin/scoring/hotlistmember/").status_code == 200


@pytest.mark.django_db
def test_the_admin_explains_a_schedule_out_of_order(client, hot_segment, marketer):
    client.force_login(marketer)
    response = client.post(
        "/admin/scoring/hotlist/add/",
        {
            "name": "逆順", "segment": hot_segment.pk, "activity_source": "hot_list",
            "is_active": "on", "publish_weekday": 4, "publish_time": "09:00",
            "remind_weekday": 3, "remind_time": "09:00", "report_weekday": 4,
            "report_time": "17:00", "top_count": 20,
        },
    )  # fmt: skip
    assert response.status_code == 200
    assert "list → reminder → report" in response.content.decode() or (
        "リスト作成 → リマインド → レポート" in response.content.decode()
    )
    assert not HotList.objects.exists()
