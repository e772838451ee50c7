"""Business cards record their consent basis; job-level tags reach every
imported lead; skipped leads are left untouched."""

import pytest

from leads.custom_fields import active_fields
from leads.imports.mapping import mapping_initial
from leads.imports.services import import_job_create, import_job_start
from leads.models import ActorKind, Consent, ImportJob, Lead, TagChange
from leads.tests.factories import LeadFactory, UserFactory

CARDS = (
    "メールアドレス,氏名,会社名,タグ\r\n"
    "yamada@acme.co.jp,山田 太郎,株式会社アクメ,VIP\r\n"
    "sato@acme.co.jp,佐藤 花子,株式会社アクメ,\r\n"
    "bad,鈴木 一郎,,\r\n"
    "known@acme.co.jp,既存 リード,,\r\n"
).encode("cp932")


def run_cards_import(user, on_existing=ImportJob.OnExisting.UPDATE) -> ImportJob:
    job = import_job_create(
        filename="展示会2026.csv",
        content=CARDS,
        uploaded_by=user,
        on_existing=on_existing,
        tags=["展示会2026", "名刺"],
        consent_basis=Consent.Basis.BUSINESS_CARD,
        consent_text="名刺交換の際、案内メールの送付をお伝えしました。",
    )
    mapping, _remembered = mapping_initial(job.headers, active_fields())
    return import_job_start(job=job, mapping=mapping)


@pytest.mark.django_db
def test_business_card_import_records_consent_for_each_created_or_updated_lead():
    # given an existing lead and a marketer
    LeadFactory(email="known@acme.co.jp")
    marketer = UserFactory(username="marketer")

    # when business cards are imported
    job = run_cards_import(marketer)

    # then each lead written has a consent naming the import
    consents = Consent.objects.order_by("lead__email")
    assert [c.lead.email for c in consents] == [
        "known@acme.co.jp", "sato@acme.co.jp", "yamada@acme.co.jp"
    ]  # fmt: skip
    for consent in consents:
        assert consent.basis == Consent.Basis.BUSINESS_CARD
        assert consent.source_ref == f"import #{job.pk} 展示会2026.csv"
        assert consent.text_shown == "名刺交換の際、案内メールの送付をお伝えしました。"
        assert consent.recorded_by == marketer
    # and the rejected row recorded nothing
    assert [r["row"] for r in job.rejected] == [4]


@pytest.mark.django_db
def test_job_tags_are_added_to_every_imported_lead_with_the_import_as_source():
    marketer = UserFactory(username="marketer")

    job = run_cards_import(marketer)

    for email in ("yamada@acme.co.jp", "sato@acme.co.jp", "known@acme.co.jp"):
        lead = Lead.objects.get(email=email)
        assert {"展示会2026", "名刺"} <= set(lead.lead_tags.values_list("tag__name", flat=True))
    yamada = Lead.objects.get(email="yamada@acme.co.jp")
    assert "VIP" in set(yamada.lead_tags.values_list("tag__name", flat=True))
    change = TagChange.objects.get(lead=yamada, tag__name="展示会2026")
    assert change.actor_kind == ActorKind.IMPORT
    assert change.actor == marketer
    assert change.source_ref == f"import #{job.pk} 展示会2026.csv"


@pytest.mark.django_db
def test_skipped_leads_get_neither_consent_nor_tags():
    known = LeadFactory(email="known@acme.co.jp")

    job = run_cards_import(None, on_existing=ImportJob.OnExisting.SKIP)

    assert job.skipped_count == 1
    assert not known.consents.exists()
    assert not known.lead_tags.exists()
    assert Consent.objects.count() == 2
