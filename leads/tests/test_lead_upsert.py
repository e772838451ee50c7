"""Email normalization, upsert by email, company matching, custom fields."""

import pytest
from django.core.exceptions import ValidationError

from leads.emails import normalize_email
from leads.models import ActorKind, Company, CustomField, Lead
from leads.services import lead_upsert


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Taro.Yamada@Example.CO.JP ", "taro.yamada@example.co.jp"),
        ("ｙａｍａｄａ＠ｅｘａｍｐｌｅ．ｃｏｍ", "yamada@example.com"),
        ("<sato@example.jp>", "sato@example.jp"),
    ],
)
def test_email_is_normalized(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "yamada", "yamada@", "山田@例え", "a@b@c.jp"])
def test_invalid_email_is_refused_with_a_message(raw):
    with pytest.raises(ValidationError) as info:
        normalize_email(raw)
    assert info.value.messages[0]


@pytest.mark.django_db
def test_upsert_creates_then_updates_by_email_case_insensitively():
    lead, outcome = lead_upsert(
        data={"email": "Hanako@Sample.co.jp", "last_name": "佐藤", "company": "株式会社サンプル"},
        actor_kind=ActorKind.API,
    )
    assert outcome == "created"
    assert lead.email == "hanako@sample.co.jp"
    again, outcome = lead_upsert(
        data={"email": "HANAKO@sample.co.jp", "title": "部長", "last_name": ""},
        actor_kind=ActorKind.API,
    )
    assert outcome == "updated" and again.pk == lead.pk
    again.refresh_from_db()
    assert again.title == "部長"
    assert again.last_name == "佐藤"  # empty values never blank out stored ones
    assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_skip_leaves_an_existing_lead_alone():
    lead_upsert(data={"email": "a@sample.co.jp", "title": "課長"}, actor_kind=ActorKind.IMPORT)
    lead, outcome = lead_upsert(
        data={"email": "a@sample.co.jp", "title": "部長"},
        actor_kind=ActorKind.IMPORT,
        on_existing="skip",
    )
    assert outcome == "skipped"
    lead.refresh_from_db()
    assert lead.title == "課長"


@pytest.mark.django_db
def test_company_is_matched_by_domain_but_not_by_free_mail():
    a, _ = lead_upsert(
        data={"email": "a@acme.co.jp", "company": "株式会社アクメ"}, actor_kind=ActorKind.API
    )
    b, _ = lead_upsert(data={"email": "b@acme.co.jp"}, actor_kind=ActorKind.API)
    c, _ = lead_upsert(
        data={"email": "c@gmail.com", "company": "株式会社アクメ"}, actor_kind=ActorKind.API
    )
    d, _ = lead_upsert(data={"email": "d@gmail.com", "company": "別会社"}, actor_kind=ActorKind.API)
    assert a.company == b.company == c.company
    assert a.company.domain == "acme.co.jp"
    assert b.company_name == "株式会社アクメ"
    assert d.company.name == "別会社" and d.company.domain == ""
    assert Company.objects.count() == 2


@pytest.mark.django_db
def test_field_errors_are_collected_per_field():
    with pytest.raises(ValidationError) as info:
        lead_upsert(
            data={"email": "bad", "employee_count": "たくさん", "prefecture": "火星", "stage": "x"},
            actor_kind=ActorKind.API,
        )
    errors = info.value.message_dict
    assert set(errors) == {"email", "employee_count", "prefecture", "stage"}
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_prefecture_and_stage_accept_japanese_names():
    lead, _ = lead_upsert(
        data={"email": "p@x.co.jp", "prefecture": "大阪", "stage": "Interest (興味)"},
        actor_kind=ActorKind.API,
    )
    assert lead.prefecture == "27"
    assert lead.stage == "interest"


@pytest.mark.django_db
def test_custom_fields_are_validated_and_stored_typed():
    CustomField.objects.create(key="budget", label="予算", type="number")
    CustomField.objects.create(key="start", label="導入時期", type="date")
    CustomField.objects.create(
        key="interest", label="関心", type="multi_choice", choices=["MA", "SFA", "CRM"]
    )
    CustomField.objects.create(key="plan", label="プラン", type="choice", choices=["A", "B"])
    lead, _ = lead_upsert(
        data={
            "email": "c@x.co.jp",
            "custom": {"budget": "1,200,000", "start": "2026/4/1", "interest": "MA;CRM"},
        },
        actor_kind=ActorKind.API,
    )
    assert lead.custom == {"budget": 1200000, "start": "2026-04-01", "interest": ["MA", "CRM"]}
    with pytest.raises(ValidationError) as info:
        lead_upsert(
            data={"email": "c@x.co.jp", "custom": {"plan": "Z", "nope": 1, "budget": "abc"}},
            actor_kind=ActorKind.API,
        )
    assert set(info.value.message_dict) == {"custom.plan", "custom.nope", "custom.budget"}
    lead.refresh_from_db()
    assert lead.custom["budget"] == 1200000


@pytest.mark.django_db
def test_a_required_custom_field_is_required_for_new_leads():
    CustomField.objects.create(key="source", label="流入元", type="text", required=True)
    with pytest.raises(ValidationError) as info:
        lead_upsert(data={"email": "r@x.co.jp"}, actor_kind=ActorKind.API)
    assert "custom.source" in info.value.message_dict
