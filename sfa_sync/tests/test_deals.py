"""Built-in deals for teams without an SFA: a handoff opens a deal; won makes
a customer, lost tags 失注 and returns the lead to nurturing."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import translation

from conftest import api_client_for
from leads.models import Lead, LeadTag
from leads.timeline import lead_timeline
from sfa_sync.models import Connector, Deal, InboundUpdate
from sfa_sync.outbox import outbox_dispatch
from sfa_sync.services import handoff_request

from .conftest import make_leads


@pytest.fixture
def deals(db) -> Connector:
    return Connector.objects.create(name="Kizuki 商談", kind="deals")


@pytest.mark.django_db
def test_a_handoff_opens_one_deal_with_the_leads_company_and_owner(deals, rep):
    lead = make_leads(1, owner=rep)[0]
    handoff_request(lead_id=lead.pk, reason="manual")
    outbox_dispatch()
    handoff_request(lead_id=lead.pk, reason="manual")
    outbox_dispatch()
    deal = Deal.objects.get()
    assert (deal.lead, deal.owner, deal.stage, deal.name) == (
        lead,
        rep,
        "qualification",
        "株式会社テスト0",
    )


@pytest.mark.django_db
def test_deals_are_closed_won_or_lost_over_the_api_and_the_lead_follows(deals, rep):
    api = api_client_for("Sales rep", "api-rep")
    lost_lead, won_lead = make_leads(2, owner=api.user)
    handoff_request(lead_id=lost_lead.pk, reason="manual")
    handoff_request(lead_id=won_lead.pk, reason="manual")
    outbox_dispatch()
    lost_deal = Deal.objects.get(lead=lost_lead)
    won_deal = Deal.objects.get(lead=won_lead)

    # when the rep marks a deal lost without saying why
    response = api.patch(f"/api/v1/deals/{lost_deal.pk}/", {"stage": "lost"}, format="json")
    # then it is refused with the field named
    assert response.status_code == 400
    assert "close_reason" in response.json()["error"]["fields"]
    # when they give the reason, and mark the other won with an amount
    response = api.patch(
        f"/api/v1/deals/{lost_deal.pk}/",
        {"stage": "lost", "close_reason": "競合に決定"},
        format="json",
    )
    assert response.status_code == 200 and response.json()["closed_at"]
    response = api.patch(
        f"/api/v1/deals/{won_deal.pk}/", {"stage": "won", "amount": "1200000"}, format="json"
    )
    assert response.status_code == 200

    # then the lost lead is tagged 失注 and nurtured again, the won one is a customer
    assert LeadTag.objects.filter(lead=lost_lead, tag__name="失注").exists()
    assert Lead.objects.get(pk=lost_lead.pk).stage == "interest"
    assert Lead.objects.get(pk=won_lead.pk).stage == "customer"
    assert not LeadTag.objects.filter(lead=won_lead).exists()
    assert InboundUpdate.objects.get(lead=lost_lead).reason == "競合に決定"
    with translation.override("ja"):
        titles = [e.title for e in lead_timeline(lost_lead.pk).entries]
    assert "Kizuki 商談 の商談: 失注" in titles
    # and a deal of someone else's lead is not theirs to see
    other = make_leads(1, prefix="other")[0]
    other_deal = Deal.objects.create(lead=other, stage="proposal")
    assert api.get(f"/api/v1/deals/{other_deal.pk}/").status_code == 404


@pytest.mark.django_db
def test_an_admin_marks_deals_won_in_the_admin(client, deals):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.co.jp", "pw")
    client.force_login(admin)
    lead = make_leads(1)[0]
    deal = Deal.objects.create(lead=lead, name="大型案件", stage="negotiation")
    response = client.post(
        "/admin/sfa_sync/deal/", {"action": "mark_won", "_selected_action": [deal.pk]}
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.stage == "won" and deal.closed_at is not None
    assert Lead.objects.get(pk=lead.pk).stage == "customer"
    # and the change page refuses "lost" without a reason, with a clear message
    page = client.post(
        f"/admin/sfa_sync/deal/{deal.pk}/change/",
        {"lead": lead.pk, "name": "大型案件", "stage": "lost", "close_reason": ""},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert page.status_code == 200
    assert "Say why the deal was lost." in page.content.decode()
