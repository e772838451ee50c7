"""Alert test fixtures: a local HTTP endpoint (Slack / webhook), mail through
the loopback SMTP sink, a rep who owns a lead with a history to show."""

from __future__ import annotations

import datetime
import email
import json
import secrets
import threading
import uuid
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from conftest import free_port
from leads.models import Company, Lead, LeadTag, Tag
from ma_core.testing.waiting import wait_until  # noqa: F401 - the tests beside it import it from here
from scoring.models import ScoreDay, ScoreRule
from tracking import intake, writer
from tracking.models import Form, FormSubmission, Site, Visitor
from tracking.services import visitor_identify


class HookServer:
    """A real HTTP server on loopback standing in for Slack or a webhook receiver.

    ``script`` lists the status of the first answers (then 200); ``hang_first``
    holds the first request unanswered until ``release()``. Only requests
    answered 2xx count as ``delivered``."""

    def __init__(self, script: list[int] | None = None, hang_first: bool = False) -> None:
        self.script = list(script or [])
        self.requests: list[dict] = []
        self.delivered: list[dict] = []
        self.hanging = threading.Event()
        self._release = threading.Event()
        self._hang_next = hang_first
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = {"headers": dict(self.headers), "body": body}
                if self.path != owner.path:  # as Slack answers a hook that does not exist
                    self.send_response(404)
                    self.end_headers()
                    self.wfile.write(b"no_service")
                    return
                with owner._lock:
                    owner.requests.append(request)
                    hang, owner._hang_next = owner._hang_next, False
                    status = owner.script.pop(0) if owner.script else 200
                if hang:
                    owner.hanging.set()
                    owner._release.wait(60)
                    return  # never answered: the sender did not get it through
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"upstream broken")
                if status < 300:
                    owner.delivered.append(request)

            def log_message(self, *args) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        # Slack's incoming-webhook shape: /services/<workspace>/<channel hook>/<secret>
        self.path = f"/services/T0KIZUKI/B0ALERTS/{secrets.token_urlsafe(18)}"
        self.url = f"http://127.0.0.1:{self.port}{self.path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> HookServer:
        self.thread.start()
        return self

    def release(self) -> None:
        self._release.set()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def json(self, index: int = 0) -> dict:
        return json.loads(self.delivered[index]["body"])


@pytest.fixture
def hook_server():
    servers: list[HookServer] = []

    def start(**kwargs) -> HookServer:
        server = HookServer(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def alert_mail(smtp_server, settings, monkeypatch):
    """Mail goes to the loopback SMTP sink, from this process and from workers."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_USE_TLS = False
    monkeypatch.setenv("EMAIL_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    return smtp_server


def parsed(envelope) -> Message:
    return email.message_from_bytes(envelope.content)


def subject(message: Message) -> str:
    from email.header import decode_header, make_header

    return str(make_header(decode_header(message["Subject"])))


def parts(message: Message) -> dict[str, str]:
    """The text/plain and text/html parts, decoded."""
    found = {}
    for part in message.walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            found[part.get_content_type()] = part.get_payload(decode=True).decode(
                part.get_content_charset() or "utf-8"
            )
    return found


@pytest.fixture
def rep(db):
    user = get_user_model().objects.create_user(
        "tanaka", email="Tanaka@example.co.jp", last_name="田中", first_name="一郎"
    )
    user.groups.add(Group.objects.get(name="Sales rep"))
    return user


@pytest.fixture
def site(db) -> Site:
    intake._site_cache.clear()
    return Site.objects.create(name="コーポレートサイト", domains=["www.example.co.jp"])


def page_views(site: Site, lead: Lead, views: list[tuple[str, str, datetime.datetime]], **kw):
    """Store page views of ``lead``'s browser through the real writer."""
    anon = f"browser-{lead.pk}"
    events = [
        {
            "uid": str(uuid.uuid4()),
            "type": kw.get("type", "page_view"),
            "occurred_at": at.isoformat(),
            "site_id": site.pk,
            "anon_id": anon,
            "lead_id": None,
            "url": url,
            "title": title,
            "referrer": "",
            "properties": kw.get("properties", {}),
            "ua": "Mozilla/5.0 (Windows NT 10.0) Chrome/120",
            "ip": "203.0.113.7",
        }
        for url, title, at in views
    ]
    writer.write_batch(events)
    visitor = Visitor.objects.get(site=site, anon_id=anon)
    if visitor.lead_id != lead.pk:
        visitor_identify(visitor=visitor, lead=lead, method="form")


def make_hot(lead: Lead, at: datetime.datetime, points: int = 120) -> None:
    """Give the lead enough points to be HOT at ``at`` (a ledger entry), then
    score it as the scoring worker does."""
    from scoring.services import score_leads

    # A rule no stored event matches: the scoring worker adds nothing to it.
    # One point per attendance: the ledger day holds ``points`` of them.
    rule, _ = ScoreRule.objects.get_or_create(
        name="セミナー参加", defaults={"event_type": "seminar_attended", "points": 1}
    )
    ScoreDay.objects.update_or_create(
        lead=lead,
        rule=rule,
        day=timezone.localdate(at),
        defaults={"events": points, "first_at": at, "last_at": at},
    )
    score_leads([lead.pk])


def make_cold(lead: Lead) -> None:
    from scoring.services import score_leads

    ScoreDay.objects.filter(lead=lead).delete()
    score_leads([lead.pk])


@pytest.fixture
def prospect(db, rep, site) -> Lead:
    """A manufacturing prospect with the history an alert shows: 11 page
    views, a tag, a form, an email click; and two won customers of the same
    industry whose paths the alert recommends."""
    company = Company.objects.create(name="株式会社ミナト製作所", industry="製造業")
    lead = Lead.objects.create(
        email="sato@minato.example.co.jp",
        last_name="佐藤",
        first_name="花子",
        company=company,
        company_name=company.name,
        title="生産管理部 部長",
        phone="03-1234-5678",
        owner=rep,
    )
    base = datetime.datetime(2026, 11, 2, 1, 0, tzinfo=datetime.UTC)

    def hours(h: int, m: int = 0) -> datetime.timedelta:
        return datetime.timedelta(hours=h, minutes=m)

    views = [
        ("https://www.example.co.jp/blog/first", "最初に読んだブログ", base),
        *[
            (
                f"https://www.example.co.jp/pricing/plan-{i}",
                f"料金プラン{i}",
                base + datetime.timedelta(hours=1, minutes=i),
            )
            for i in range(1, 8)
        ],
        ("https://www.example.co.jp/case/toyota", "導入事例 トヨタ様", base + hours(2)),
        ("https://www.example.co.jp/case/denso", "導入事例 デンソー様", base + hours(2, 5)),
        ("https://www.example.co.jp/contact", "お問い合わせ", base + hours(2, 9)),
    ]
    page_views(site, lead, views)
    page_views(
        site,
        lead,
        [("https://www.example.co.jp/lp/seminar", "11月のセミナー案内", base)],
        type="email_click",
    )
    tag, _ = Tag.objects.get_or_create(name="展示会2026")
    LeadTag.objects.create(lead=lead, tag=tag, added_by_kind="system")
    form = Form.objects.create(name="資料請求フォーム", key="shiryo")
    FormSubmission.objects.create(form=form, form_version=1, lead=lead, data={})
    webinar = Form.objects.create(name="導入相談会 申込", key="soudan")
    for i in range(2):
        won = Lead.objects.create(
            email=f"won{i}@customer{i}.example.co.jp", industry="製造業", stage="customer"
        )
        page_views(
            site,
            won,
            [("https://www.example.co.jp/case/roi", "ROI試算ページ", base)],
        )
        FormSubmission.objects.create(form=webinar, form_version=1, lead=won, data={})
    return lead
