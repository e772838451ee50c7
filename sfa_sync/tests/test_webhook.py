"""The webhook connector: signed JSON out, signed deal status in (a bad
signature gets 401 and changes nothing)."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import free_port
from leads.models import Lead, LeadTag
from sfa_sync.models import Connector, InboundUpdate, OutboxItem, SyncLink
from sfa_sync.outbox import outbox_dispatch
from sfa_sync.services import handoff_request

from .conftest import make_leads

SECRET = "s3cret-signing-key-of-the-receiver"


class Receiver:
    """An SFA's webhook endpoint on loopback; answers ``statuses`` in turn, then 200."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.received.append({"headers": dict(self.headers), "body": body})
                status = owner.statuses.pop(0) if owner.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"no")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/kizuki/leads"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receivers = []

    def start(**kwargs) -> Receiver:
        receivers.append(Receiver(**kwargs))
        return receivers[-1]

    yield start
    for r in receivers:
        r.stop()


def hook_connector(url: str = "http://127.0.0.1:9/none") -> Connector:
    return Connector.objects.create(
        name="外部SFA", kind="webhook", webhook_url=url, webhook_secret=SECRET
    )


def sign(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"HTTP_X_KIZUKI_TIMESTAMP": stamp, "HTTP_X_KIZUKI_SIGNATURE": f"sha256={digest}"}


@pytest.mark.django_db
def test_a_handoff_is_posted_as_signed_json_the_receiver_can_check(receiver):
    # given a webhook connector and an endpoint that fails once (503), then accepts
    endpoint = receiver(statuses=[503])
    hook_connector(endpoint.url)
    lead = make_leads(1)[0]
    handoff_request(lead_id=lead.pk, reason="manual")
    # when the dispatcher runs, and again once the backoff is over
    outbox_dispatch()
    item = OutboxItem.objects.get()
    assert item.state == "pending" and "HTTP 503" in item.last_error
    OutboxItem.objects.filter(pk=item.pk).update(next_attempt_at=item.created_at)
    outbox_dispatch()
    # then the endpoint got the lead, signed with the shared secret over timestamp.body
    assert len(endpoint.received) == 2
    sent = endpoint.received[1]
    stamp = sent["headers"]["X-Kizuki-Timestamp"]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + sent["body"], hashlib.sha256)
    assert sent["headers"]["X-Kizuki-Signature"] == "sha256=" + expected.hexdigest()
    assert sent["headers"]["X-Kizuki-Delivery"] == str(item.pk)
    payload = json.loads(sent["body"])
    assert payload["event"] == "handoff"
    assert payload["lead"]["email"] == lead.email
    assert payload["lead"]["company"] == "株式会社テスト0"
    assert OutboxItem.objects.get().state == "sent"


@pytest.mark.django_db
def test_an_endpoint_that_refuses_for_good_parks_the_row(receiver):
    endpoint = receiver(statuses=[410])
    hook_connector(endpoint.url)
    lead = make_leads(1)[0]
    handoff_request(lead_id=lead.pk, reason="manual")
    outbox_dispatch()
    item = OutboxItem.objects.get()
    assert item.state == "failed" and item.last_error.startswith("HTTP 410")


@pytest.mark.django_db
def test_a_signed_deal_status_comes_in_and_a_bad_signature_changes_nothing(client):
    # given a lead handed to the webhook connector
    connector = hook_connector()
    lead = make_leads(1)[0]
    handoff_request(lead_id=lead.pk, reason="manual")
    url = f"/api/v1/sfa-connectors/{connector.pk}/inbound/"
    body = json.dumps({"lead": lead.pk, "status": "lost", "reason": "価格"}).encode()

    # when the deal status arrives signed with another secret, too old, or unsigned
    for headers in (
        sign(body, secret="not-the-secret-at-all"),
        sign(body, timestamp=int(time.time()) - 3600),
        {},
    ):
        response = client.post(url, body, content_type="application/json", **headers)
        # then it is refused with the API's error shape and nothing changed
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "bad_signature"
    tampered = body.replace(b"lost", b"won!")
    response = client.post(url, tampered, content_type="application/json", **sign(body))
    assert response.status_code == 401
    assert not LeadTag.objects.filter(lead=lead).exists()
    assert SyncLink.objects.get(lead=lead).deal_status == "open"
    assert not InboundUpdate.objects.exists()

    # when it arrives correctly signed
    response = client.post(url, body, content_type="application/json", **sign(body))
    # then the lead is tagged 失注 and back to nurturing
    assert response.status_code == 200
    assert response.json() == {"lead": lead.pk, "status": "lost", "changed": True}
    assert LeadTag.objects.filter(lead=lead, tag__name="失注").exists()
    assert Lead.objects.get(pk=lead.pk).stage == "interest"
    assert InboundUpdate.objects.get().reason == "価格"


@pytest.mark.django_db
def test_a_signed_but_invalid_body_is_a_400_naming_the_fields(client):
    connector = hook_connector()
    body = json.dumps({"lead": "abc", "status": "maybe"}).encode()
    response = client.post(
        f"/api/v1/sfa-connectors/{connector.pk}/inbound/",
        body,
        content_type="application/json",
        **sign(body),
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"lead", "status"}
