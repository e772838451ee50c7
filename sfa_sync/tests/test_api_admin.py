"""Connectors are configured by the Admin role; the API token is write-only
and never shown back nor logged; the outbox is visible with a retry; the
lead page has a handoff button; a lead becoming HOT hands over when asked."""

import logging

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from conftest import api_client_for
from leads.models import Lead
from scoring.signals import rank_changed
from sfa_sync.models import Connector, OutboxItem, SyncLink
from sfa_sync.outbox import outbox_dispatch
from sfa_sync.services import handoff_request

from .conftest import kintone_connector, make_leads

TOKEN = "kintone-token-abcdef123456"


@pytest.mark.django_db
def test_the_admin_role_creates_a_kintone_connector_and_never_reads_the_token_back(kintone):
    admin = api_client_for("Admin", "api-admin")
    body = {
        "name": "kintone 商談管理",
        "kind": "kintone",
        "base_url": kintone.base_url,
        "app_id": kintone.app,
        "api_token": TOKEN,
        "deal_status_field": "商談ステータス",
    }
    response = admin.post("/api/v1/sfa-connectors/", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert "api_token" not in data and TOKEN not in str(data)
    assert data["api_token_hint"] == "••••3456"
    connector = Connector.objects.get()
    assert connector.api_token == TOKEN
    # a change without a token keeps the stored one
    response = admin.patch(
        f"/api/v1/sfa-connectors/{connector.pk}/", {"handoff_on_hot": True}, format="json"
    )
    assert response.status_code == 200
    assert Connector.objects.get().api_token == TOKEN
    assert TOKEN not in str(admin.get("/api/v1/sfa-connectors/").json())


@pytest.mark.django_db
def test_bad_connector_settings_are_a_400_naming_each_field():
    admin = api_client_for("Admin", "api-admin")
    response = admin.post(
        "/api/v1/sfa-connectors/",
        {
            "name": "x",
            "kind": "kintone",
            "field_map": {"shoe_size": "size"},
            "status_map": {"受注": "yes"},
        },
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert {"base_url", "app_id", "api_token", "field_map", "status_map"} <= set(error["fields"])
    # an address that is not http(s) is named too
    response = admin.post(
        "/api/v1/sfa-connectors/",
        {"name": "x", "kind": "webhook", "webhook_url": "ftp://sfa.example.co.jp/in"},
        format="json",
    )
    assert response.status_code == 400
    assert "webhook_url" in response.json()["error"]["fields"]


@pytest.mark.django_db
def test_only_the_admin_role_configures_connectors(marketer_api, sales_api, kintone):
    connector = kintone_connector(kintone)
    body = {"name": "x", "kind": "deals"}
    assert marketer_api.post("/api/v1/sfa-connectors/", body, format="json").status_code == 403
    assert (
        sales_api.patch(
            f"/api/v1/sfa-connectors/{connector.pk}/", {"is_active": False}, format="json"
        ).status_code
        == 403
    )
    listed = marketer_api.get("/api/v1/sfa-connectors/")
    assert listed.status_code == 200
    assert "webhook_secret" not in listed.json()[0] and TOKEN not in str(listed.json())


@pytest.mark.django_db
def test_the_token_is_not_in_the_admin_page_nor_in_the_logs(client, kintone, caplog):
    # given a connector whose kintone is down
    connector = kintone_connector(kintone)
    admin = get_user_model().objects.create_superuser("boss", "boss@example.co.jp", "pw")
    client.force_login(admin)
    page = client.get(f"/admin/sfa_sync/connector/{connector.pk}/change/").content.decode()
    assert TOKEN not in page and "••••3456" in page
    # nor in the read-only page a marketer sees
    marketer = get_user_model().objects.create_user("mk", is_staff=True)
    marketer.groups.add(Group.objects.get(name="Marketer"))
    client.force_login(marketer)
    page = client.get(f"/admin/sfa_sync/connector/{connector.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert TOKEN not in html and connector.webhook_secret not in html and "••••3456" in html
    kintone.mode = "outage"
    handoff_request(lead_id=make_leads(1)[0].pk, reason="manual")
    with caplog.at_level(logging.DEBUG):
        outbox_dispatch()
    assert "HTTP 503" in caplog.text
    assert TOKEN not in caplog.text
    assert TOKEN not in OutboxItem.objects.get().last_error


@pytest.mark.django_db
def test_the_outbox_api_lists_failed_rows_and_the_admin_role_retries_them(marketer_api, kintone):
    kintone_connector(kintone, max_attempts=1)
    kintone.mode = "outage"
    lead = make_leads(1)[0]
    handoff_request(lead_id=lead.pk, reason="manual")
    outbox_dispatch()
    failed = marketer_api.get("/api/v1/sfa-outbox/?state=failed").json()["results"]
    assert [row["lead"] for row in failed] == [lead.pk]
    assert "HTTP 503" in failed[0]["last_error"]
    url = f"/api/v1/sfa-outbox/{failed[0]['id']}/retry/"
    assert marketer_api.post(url).status_code == 403
    admin = api_client_for("Admin", "api-admin")
    response = admin.post(url)
    assert response.status_code == 200 and response.json()["state"] == "pending"
    assert admin.post(url).status_code == 409
    kintone.mode = "ok"
    outbox_dispatch()
    assert list(kintone.records) == [str(lead.pk)]


@pytest.mark.django_db
def test_the_lead_page_button_hands_the_lead_over(client, kintone):
    # given a connector and an inside-sales user on the lead page
    kintone_connector(kintone)
    lead = make_leads(1)[0]
    user = get_user_model().objects.create_user("inside", is_staff=True, password="pw")
    user.groups.add(Group.objects.get(name="Inside sales"))
    client.force_login(user)
    page = client.get(f"/admin/leads/lead/{lead.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")
    assert "Hand over to the SFA" in page.content.decode()
    # when they press it
    response = client.post(f"/admin/sfa_sync/synclink/handoff/{lead.pk}/")
    assert response.status_code == 302
    outbox_dispatch()
    # then the lead is in kintone and the panel shows where it went
    assert list(kintone.records) == [str(lead.pk)]
    page = client.get(f"/admin/leads/lead/{lead.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert "kintone 商談管理" in html and "Send to the SFA again" in html
    # a staff user without the permission is refused
    nobody = get_user_model().objects.create_user("nobody", is_staff=True)
    client.force_login(nobody)
    assert client.post(f"/admin/sfa_sync/synclink/handoff/{lead.pk}/").status_code == 403


@pytest.mark.django_db
def test_the_handoff_api_for_inside_sales(inside_api, kintone):
    kintone_connector(kintone)
    lead = make_leads(1)[0]
    response = inside_api.post(f"/api/v1/leads/{lead.pk}/handoff/")
    assert response.status_code == 202 and response.json()["handed_over"] is True
    assert inside_api.post("/api/v1/leads/999999/handoff/").json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_becoming_hot_hands_over_only_where_the_admin_turned_it_on(kintone_server):
    on = kintone_connector(kintone_server(), name="on", handoff_on_hot=True)
    off = kintone_connector(kintone_server(), name="off")
    hot, warm = make_leads(2)
    rank_changed.send(sender=Lead, changes=[(hot.pk, "WARM", "HOT"), (warm.pk, "COLD", "WARM")])
    assert list(SyncLink.objects.values_list("lead_id", "connector_id")) == [(hot.pk, on.pk)]
    assert not SyncLink.objects.filter(connector=off).exists()


@pytest.mark.django_db(transaction=True)
def test_merging_leads_keeps_the_handoff_and_its_history(kintone):
    from leads.services import lead_merge

    connector = kintone_connector(kintone)
    survivor, merged = make_leads(2)
    handoff_request(lead_id=merged.pk, reason="manual")
    outbox_dispatch()
    # when the handed-over lead is merged into another
    lead_merge(survivor=survivor, merged=merged)
    # then the survivor is the one handed over, with the history, and gets an update
    assert list(SyncLink.objects.values_list("lead_id", "connector_id")) == [
        (survivor.pk, connector.pk)
    ]
    assert OutboxItem.objects.filter(lead=survivor, kind="handoff", state="sent").exists()
    assert OutboxItem.objects.filter(lead=survivor, kind="update", state="pending").exists()
