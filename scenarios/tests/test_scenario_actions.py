"""Action steps: tags, a field and the stage, a static list (through
leads.services, set-based), a notification mail to a user, a webhook signed
with HMAC-SHA256 and recorded once (a second dispatcher run does not call it
again), and the SFA handoff, which says plainly when sfa_sync is missing."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.contrib.auth import get_user_model

from leads.models import ActorKind, CustomField, LeadTag, ListMembership, StaticList
from leads.services import tags_add_bulk
from leads.tests.factories import LeadFactory
from scenarios.engine import scenario_actions_deliver, scenario_enroll
from scenarios.models import ScenarioAction
from scenarios.tasks import dispatch

from .conftest import make_scenario, received

SECRET = "s3cret-webhook-key-0123"


class Receiver:
    """A real HTTP server on loopback that records the webhook calls."""

    def __init__(self) -> None:
        calls = self.calls = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                calls.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_actions_change_the_lead_notify_and_call_the_webhook_once(profile, receiver, smtp_settings):
    owner = get_user_model().objects.create_user("sales", email="sales@example.co.jp")
    CustomField.objects.create(key="interest", label="関心", type="text")
    seminar = StaticList.objects.create(name="セミナー招待")
    scenario = make_scenario(
        "アクション",
        [
            {"key": "tag", "kind": "add_tag", "config": {"tag": "HOT候補"}, "next_key": "untag"},
            {"key": "untag", "kind": "remove_tag", "config": {"tag": "休眠"},
             "next_key": "stage"},
            {"key": "stage", "kind": "set_field",
             "config": {"field": "stage", "value": "consideration"}, "next_key": "custom"},
            {"key": "custom", "kind": "set_field",
             "config": {"field": "interest", "value": "MA"}, "next_key": "list"},
            {"key": "list", "kind": "add_to_list", "config": {"list": seminar.pk},
             "next_key": "notify"},
            {"key": "notify", "kind": "notify_user",
             "config": {"user": owner.pk, "subject": "HOT候補です"}, "next_key": "hook"},
            {"key": "hook", "kind": "webhook", "config": {"url": receiver.url, "secret": SECRET}},
        ],
    )  # fmt: skip
    lead = LeadFactory(email="lead@example.co.jp")
    tags_add_bulk(lead_ids=[lead.pk], names=["休眠"], actor_kind=ActorKind.USER)
    scenario_enroll(scenario=scenario, lead_ids=[lead.pk])

    dispatch()
    dispatch()
    scenario_actions_deliver()

    lead.refresh_from_db()
    assert set(LeadTag.objects.filter(lead=lead).values_list("tag__name", flat=True)) == {"HOT候補"}
    assert (lead.stage, lead.custom["interest"]) == ("consideration", "MA")
    assert ListMembership.objects.filter(static_list=seminar, lead=lead).exists()
    notes = [m for m in received(smtp_settings) if m["To"] == "sales@example.co.jp"]
    assert [m["Subject"] for m in notes] == ["HOT候補です"]
    assert len(receiver.calls) == 1
    headers, body = receiver.calls[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Kizuki-Signature"] == expected
    payload = json.loads(body)
    assert payload["lead"]["email"] == "lead@example.co.jp" and payload["step"] == "hook"
    assert headers["X-Kizuki-Delivery"] == str(payload["delivery"])
    assert set(ScenarioAction.objects.values_list("kind", "state")) == {
        ("notify_user", "done"), ("webhook", "done")
    }  # fmt: skip


@pytest.mark.django_db
def test_the_sfa_handoff_reaches_the_outbox_and_fails_plainly_without_an_sfa(settings):
    from leads.signals import handoff_requested
    from sfa_sync.models import Connector, OutboxItem
    from sfa_sync.receivers import on_handoff_requested

    Connector.objects.create(name="自社の商談リスト", kind="deals")
    scenario = make_scenario(
        "SFA", [{"key": "sfa", "kind": "handoff_sfa", "config": {"reason": "HOT"}}]
    )
    lead, other = LeadFactory(), LeadFactory()
    from scenarios.engine import scenario_enrollments_advance

    # with sfa_sync answering, the lead is queued for the SFA once
    scenario_enroll(scenario=scenario, lead_ids=[lead.pk])
    scenario_enrollments_advance()
    scenario_actions_deliver()
    action = ScenarioAction.objects.get(lead=lead)
    assert action.state == "done", action.error
    assert OutboxItem.objects.filter(lead=lead, kind="handoff").count() == 1
    # without any SFA app answering, the action fails and says why
    handoff_requested.disconnect(on_handoff_requested, dispatch_uid="sfa-handoff-requested")
    try:
        scenario_enroll(scenario=scenario, lead_ids=[other.pk])
        scenario_enrollments_advance()
        scenario_actions_deliver()
    finally:
        handoff_requested.connect(on_handoff_requested, dispatch_uid="sfa-handoff-requested")
    action = ScenarioAction.objects.get(lead=other)
    assert action.state == "failed"
    assert action.error == "SFA handoff is not available (sfa_sync is not installed)."
    assert not OutboxItem.objects.filter(lead=other).exists()
