"""Leads export to a CSV Excel opens (UTF-8 with BOM, CRLF) whose Japanese
text round-trips, in one query, and imports back unchanged."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import translation

from leads.custom_fields import active_fields
from leads.exports import LEAD_COLUMNS, export_leads_csv
from leads.imports.mapping import mapping_initial
from leads.imports.services import import_job_create, import_job_start
from leads.models import ActorKind, CustomField, Lead, ListMembership, Segment, StaticList
from leads.services import lead_upsert, list_add
from leads.tests.factories import UserFactory


@pytest.fixture(autouse=True)
def english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def leads(db):
    CustomField.objects.create(
        key="interest", label="関心", type=CustomField.Type.MULTI_CHOICE, choices=["MA", "SFA"]
    )
    CustomField.objects.create(key="budget", label="予算", type=CustomField.Type.NUMBER)
    owner = UserFactory(username="tanaka")
    yamada, _ = lead_upsert(
        data={
            "email": "yamada@acme.co.jp", "last_name": "山田", "first_name": "太郎",
            "last_name_kana": "ヤマダ", "first_name_kana": "タロウ", "company": "株式会社アクメ",
            "department": "営業部", "title": "部長", "phone": "+81-3-1234-5678",
            "industry": "製造業", "employee_count": 1200, "capital": 120_000_000,
            "prefecture": "東京都", "address": "千代田区丸の内1-1", "stage": "interest",
            "owner": owner, "custom": {"interest": ["MA", "SFA"], "budget": 500},
        },
        actor_kind=ActorKind.API,
        tags=["展示会2026", "名刺"],
    )  # fmt: skip
    sato, _ = lead_upsert(
        data={"email": "sato@example.jp", "last_name": "佐藤", "department": "=HYPERLINK(1)"},
        actor_kind=ActorKind.API,
    )
    return [yamada, sato]


def read(response) -> tuple[bytes, list[list[str]]]:
    body = b"".join(response.streaming_content)
    return body, list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_export_is_utf8_with_bom_and_crlf_and_japanese_round_trips(leads):
    response = export_leads_csv(Lead.objects.all(), "リード一覧.csv")

    body, rows = read(response)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "filename*=utf-8''%E3%83%AA" in response["Content-Disposition"]
    assert body.startswith(b"\xef\xbb\xbf")
    assert body.count(b"\r\n") == 3 and body.count(b"\n") == 3
    header, yamada, sato = rows
    assert header == [c.ja for c in LEAD_COLUMNS] + ["関心", "予算"]
    record = dict(zip(header, yamada, strict=True))
    assert {k: record[k] for k in ("メールアドレス", "姓", "名", "セイ", "メイ", "会社名")} == {
        "メールアドレス": "yamada@acme.co.jp", "姓": "山田", "名": "太郎", "セイ": "ヤマダ",
        "メイ": "タロウ", "会社名": "株式会社アクメ",
    }  # fmt: skip
    assert record["都道府県"] == "東京都"
    assert record["電話番号"] == "+81-3-1234-5678"  # a phone number is not a formula
    assert record["従業員数"] == "1200" and record["資本金"] == "120000000"
    assert record["タグ"] == "名刺;展示会2026"
    assert record["担当者"] == "tanaka"
    assert record["ステージ"] == "Interest (興味)"
    assert record["関心"] == "MA;SFA" and record["予算"] == "500"
    assert record["ランク"] == "COLD" and record["スコア"] == "0"
    # a value Excel would run as a formula is shown as text
    assert dict(zip(header, sato, strict=True))["部署"] == "'=HYPERLINK(1)"


def test_export_fetches_leads_tags_company_and_owner_in_one_query(
    leads, django_assert_max_num_queries
):
    for i in range(30):
        lead_upsert(
            data={"email": f"u{i}@acme.co.jp", "company": "株式会社アクメ"},
            actor_kind=ActorKind.API,
            tags=[f"t{i}", "共通"],
        )
    response = export_leads_csv(Lead.objects.all(), "leads.csv")

    # custom field definitions + the leads with their tags
    with django_assert_max_num_queries(2):
        _body, rows = read(response)
    assert len(rows) == 33


def test_english_headers_on_request(leads):
    _body, rows = read(export_leads_csv(Lead.objects.all(), "x.csv", header_language="en"))

    assert rows[0][:3] == ["id", "email", "last_name"]
    assert rows[0][-2:] == ["custom.interest", "custom.budget"]


def test_exported_file_imports_back_unchanged(leads):
    # given an export
    body = b"".join(export_leads_csv(Lead.objects.all(), "x.csv").streaming_content)
    before = list(Lead.objects.order_by("email").values())
    Lead.objects.all().delete()

    # when it is imported with the suggested mapping
    job = import_job_create(filename="export.csv", content=body)
    mapping, _remembered = mapping_initial(job.headers, active_fields())
    job = import_job_start(job=job, mapping=mapping)

    # then the leads are back as they were
    assert job.rejected == []
    after = list(Lead.objects.order_by("email").values())
    compared = [
        "email", "last_name", "first_name", "last_name_kana", "first_name_kana", "company_name",
        "department", "title", "phone", "industry", "employee_count", "capital", "prefecture",
        "address", "stage", "owner_id", "custom", "is_competitor", "is_nurture_target",
    ]  # fmt: skip
    assert [{k: r[k] for k in compared} for r in after] == [
        {k: r[k] for k in compared} for r in before
    ]
    yamada = Lead.objects.get(email="yamada@acme.co.jp")
    assert sorted(yamada.lead_tags.values_list("tag__name", flat=True)) == ["名刺", "展示会2026"]


@pytest.fixture
def marketer_client(client, db):
    user = get_user_model().objects.create_user("marketer", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketer"))
    client.force_login(user)
    return client


def test_a_static_list_exports_its_current_members(leads, marketer_client):
    yamada, sato = leads
    static_list = StaticList.objects.create(name="展示会 フォロー")
    list_add(static_list=static_list, lead_ids=[yamada.pk, sato.pk], actor_kind=ActorKind.USER)
    ListMembership.objects.filter(lead=sato).update(removed_at=yamada.created_at)

    response = marketer_client.get(
        reverse("admin:leads_importjob_export_list", args=[static_list.pk])
    )

    assert response.status_code == 200
    assert f"list-{static_list.pk}-" in response["Content-Disposition"]
    _body, rows = read(response)
    assert [row[1] for row in rows[1:]] == ["yamada@acme.co.jp"]


def test_a_segment_exports_the_leads_it_matches_now(leads, marketer_client):
    segment = Segment.objects.create(
        name="名刺の人",
        expression="1",
        blocks={"1": {"kind": "tag", "op": "has", "value": "名刺"}},
    )

    response = marketer_client.get(
        reverse("admin:leads_importjob_export_segment", args=[segment.pk])
    )

    assert response.status_code == 200
    _body, rows = read(response)
    assert [row[1] for row in rows[1:]] == ["yamada@acme.co.jp"]


def test_export_needs_view_permission_on_leads(leads, client):
    user = get_user_model().objects.create_user("nobody", password="pw", is_staff=True)
    client.force_login(user)
    static_list = StaticList.objects.create(name="x")
    segment = Segment.objects.create(name="s", expression="1", blocks={})

    assert (
        client.get(reverse("admin:leads_importjob_export_list", args=[static_list.pk])).status_code
        == 403
    )
    assert (
        client.get(reverse("admin:leads_importjob_export_segment", args=[segment.pk])).status_code
        == 403
    )
