"""Fixtures of the HOT list tests: leads with real tracked behaviour (events
written through tracking's batch writer into the partitioned table), users
per role, and a list on the seed-004 preset."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from leads.models import ActivityChoice, Lead, Segment
from ma_core.roles import sync_role_permissions

# Monday 2026-11-16 09:00 in Tokyo is 00:00 UTC.
MONDAY_9 = datetime.datetime(2026, 11, 16, 0, 0, tzinfo=datetime.UTC)

SEED_CHOICES = (
    ("type", "mail", "メール"),
    ("type", "phone", "電話"),
    ("type", "visit", "訪問"),
    ("type", "web_meeting", "WEBミーティング"),
    ("result", "continue", "継続フォロー"),
    ("result", "opportunity", "商談化"),
    ("result", "archive", "アーカイブ"),
    ("source", "hot_list", "HOTリードリスト"),
    ("source", "dig_up_list", "掘り起こしリスト"),
    ("source", "other", "その他"),
)


@pytest.fixture
def activity_choices(db):
    # A transactional test starts from an emptied database: ensure the seed choices.
    for kind, code, label in SEED_CHOICES:
        ActivityChoice.objects.get_or_create(kind=kind, code=code, defaults={"label": label})


@pytest.fixture
def site(db):
    from tracking import intake
    from tracking.models import Site

    intake._site_cache.clear()
    return Site.objects.create(name="コーポレートサイト", domains=["www.example.co.jp"])


def behave(site, lead: Lead, *, page_views: int = 0, forms: int = 0, at: datetime.datetime):
    """Write ``page_views`` page views and ``forms`` form submissions of the
    lead, a minute apart ending at ``at``, through the batch writer."""
    from tracking import writer
    from tracking.models import Visitor

    anon = f"browser-{lead.pk}"
    Visitor.objects.get_or_create(site=site, anon_id=anon, defaults={"lead": lead})
    events = []
    kinds = ["page_view"] * page_views + ["form_submit"] * forms
    for index, kind in enumerate(kinds):
        moment = at - datetime.timedelta(minutes=len(kinds) - index)
        events.append(
            {
                "uid": str(uuid.uuid4()),
                "type": kind,
                "occurred_at": moment.isoformat(),
                "site_id": site.pk,
                "anon_id": anon,
                "lead_id": lead.pk,
                "url": f"https://www.example.co.jp/p/{index}",
                "title": "",
                "referrer": "",
                "properties": {"form": "contact"} if kind == "form_submit" else {},
                "ua": "Mozilla/5.0 (Windows NT 10.0) Chrome/120",
                "ip": "203.0.113.77",
            }
        )
    writer.write_batch(events)


@pytest.fixture
def make_lead(site):
    def make(email: str, *, page_views=16, forms=1, at=None, **fields) -> Lead:
        lead = Lead.objects.create(email=email, **fields)
        if page_views or forms:
            behave(site, lead, page_views=page_views, forms=forms, at=at or MONDAY_9)
        return lead

    return make


def user_in(role: str | None, username: str, **fields):
    user = get_user_model().objects.create_user(
        username, password="pw-" + username, is_staff=True, email=f"{username}@example.jp", **fields
    )
    if role:
        sync_role_permissions()
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def inside(db):
    return user_in("Inside sales", "inside1", last_name="鈴木", first_name="一郎")


@pytest.fixture
def inside2(db):
    return user_in("Inside sales", "inside2", last_name="山本", first_name="二郎")


@pytest.fixture
def rep(db):
    return user_in("Sales rep", "rep1", last_name="高橋", first_name="健")


@pytest.fixture
def marketer(db):
    return user_in("Marketer", "mkt1", last_name="佐藤", first_name="花子")


@pytest.fixture
def hot_segment(db, activity_choices, site) -> Segment:
    from leads.segments import install_presets

    install_presets()
    return Segment.objects.get(preset_key="hot_leads")


@pytest.fixture
def hot_list(hot_segment, inside, marketer):
    from scoring.hotlists.models import HotList

    hot_list = HotList.objects.create(
        name="HOTリードリスト",
        segment=hot_segment,
        created_at=MONDAY_9 - datetime.timedelta(days=30),
    )
    hot_list.team.set([inside])
    hot_list.report_recipients.set([marketer])
    return hot_list


@pytest.fixture
def smtp_settings(settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    return smtp_server


def received(smtp_server) -> list:
    """[(to, subject, body)] of what the SMTP server got, decoded."""
    import email
    from email import policy

    result = []
    for envelope in smtp_server.messages:
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        body = message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
        result.append((tuple(envelope.rcpt_tos), str(message["subject"]), body))
    return result
