"""Demo web history: a corporate site, a document-request form, and months of
realistic page views for the demo leads (and anonymous visitors)."""

from __future__ import annotations

import datetime
import random
import uuid

from django.db import transaction
from django.utils import timezone

from leads.models import Lead
from tracking import writer
from tracking.models import Form, FormField, Identification, Site, Visitor
from tracking.services import visitor_identify

PAGES = [
    ("https://www.kizuki-demo.example/", "トップ | キヅキ・デモ"),
    ("https://www.kizuki-demo.example/product/", "製品紹介"),
    ("https://www.kizuki-demo.example/pricing/", "料金プラン"),
    ("https://www.kizuki-demo.example/case/", "導入事例"),
    ("https://www.kizuki-demo.example/faq/", "よくある質問"),
    ("https://www.kizuki-demo.example/seminar/", "セミナー情報"),
    ("https://www.kizuki-demo.example/blog/ma-basics/", "MAの基本"),
    ("https://www.kizuki-demo.example/blog/scoring/", "スコアリング入門"),
    ("https://www.kizuki-demo.example/blog/kintone/", "kintone連携のすすめ"),
    ("https://www.kizuki-demo.example/company/", "会社概要"),
    ("https://www.kizuki-demo.example/download/whitepaper.pdf", "ホワイトペーパー"),
]
SOURCES = [
    {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "ma-2026"},
    {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "2026-11"},
    {"utm_source": "facebook", "utm_medium": "social"},
    {},
]
DAYS = 120
SEED = 2026


def _events_for(rng, site, anon, days_back, visits, intensity, now):
    events = []
    for _visit in range(visits):
        start = now - datetime.timedelta(days=rng.uniform(0, days_back), minutes=rng.randrange(600))
        source = rng.choice(SOURCES)
        for n in range(max(1, int(rng.paretovariate(1.3) * intensity))):
            url, title = PAGES[min(int(rng.paretovariate(1.1)) - 1, len(PAGES) - 1)]
            events.append(
                {
                    "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "type": "download" if url.endswith(".pdf") else "page_view",
                    "occurred_at": (start + datetime.timedelta(minutes=2 * n)).isoformat(),
                    "site_id": site.pk,
                    "anon_id": anon,
                    "lead_id": None,
                    "url": url,
                    "title": title,
                    "referrer": "https://www.google.com/" if source else "",
                    "properties": dict(source) if n == 0 else {},
                    "ua": rng.choice(
                        [
                            "Mozilla/5.0 (Windows NT 10.0) Chrome/120",
                            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148",
                        ]
                    ),
                    "ip": f"203.0.113.{rng.randrange(1, 250)}",
                }
            )
    return events


def load(context) -> None:
    site, _created = Site.objects.get_or_create(
        name="キヅキ・デモ コーポレートサイト",
        defaults={"domains": ["www.kizuki-demo.example", "localhost", "127.0.0.1"]},
    )
    form, _ = Form.objects.get_or_create(
        key="document-request",
        defaults={
            "name": "資料請求フォーム",
            "site": site,
            "title_ja": "資料請求",
            "title_en": "Request documents",
            "tags": ["資料請求"],
        },
    )
    if not form.fields.exists():
        for position, (field, label, required) in enumerate(
            [
                ("email", "メールアドレス", True),
                ("last_name", "姓", True),
                ("first_name", "名", True),
                ("company", "会社名", True),
                ("department", "部署", False),
                ("phone", "電話番号", False),
            ]
        ):
            FormField.objects.create(
                form=form, field=field, label_ja=label, required=required, position=position
            )
    if Identification.objects.filter(visitor__site=site).exists():
        return  # web history already loaded
    rng = random.Random(SEED)
    now = timezone.now()
    leads = list(Lead.objects.order_by("id")[:400])
    batch: list[dict] = []
    owners: dict[str, Lead] = {}
    for index, lead in enumerate(leads):
        anon = f"demo-{lead.pk}"
        owners[anon] = lead
        hot = index % 12 == 0  # a few readers who come back a lot
        batch += _events_for(
            rng,
            site,
            anon,
            30 if hot else DAYS,
            8 if hot else rng.randrange(1, 6),
            3 if hot else 1,
            now,
        )
    for n in range(300):  # anonymous visitors never named
        batch += _events_for(rng, site, f"anon-{n}", DAYS, rng.randrange(1, 4), 1, now)
    batch.sort(key=lambda e: e["occurred_at"])
    for i in range(0, len(batch), writer.BATCH_SIZE):
        writer.write_batch(batch[i : i + writer.BATCH_SIZE])
    with transaction.atomic():
        for visitor in Visitor.objects.filter(site=site, anon_id__in=list(owners)):
            visitor_identify(visitor=visitor, lead=owners[visitor.anon_id], method="form")
    requested = [lead for lead in leads if lead.lead_tags.filter(tag__name="資料請求").exists()]
    hot_leads = [lead for i, lead in enumerate(leads) if i % 12 == 0]
    submissions = []
    for lead in {*requested, *hot_leads}:
        submissions.append(
            {
                "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "type": "form_submit",
                "occurred_at": (now - datetime.timedelta(days=rng.uniform(0, 25))).isoformat(),
                "site_id": site.pk,
                "anon_id": f"demo-{lead.pk}",
                "lead_id": lead.pk,
                "url": "https://www.kizuki-demo.example/contact/",
                "title": form.name,
                "referrer": "",
                "properties": {"form": form.key, "form_id": form.pk},
            }
        )
    writer.write_batch(sorted(submissions, key=lambda e: e["occurred_at"]))
    if context.stdout is not None:
        context.stdout.write(f"Web history: {len(batch) + len(submissions)} events")
