"""Columns are mapped from Japanese and English header names, and the
mapping chosen once is offered again for the same set of headers."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from leads.custom_fields import active_fields
from leads.imports.mapping import (
    check_mapping,
    header_signature,
    mapping_initial,
    suggest_mapping,
)
from leads.imports.rows import split_full_name
from leads.imports.services import import_job_create, import_job_start
from leads.models import CustomField, ImportMapping, Lead


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("メールアドレス", "email"),
        ("Eメール", "email"),
        ("E-mail", "email"),
        ("ｅメールアドレス", "email"),
        ("メールアドレス（必須）", "email"),
        ("姓", "last_name"),
        ("名", "first_name"),
        ("氏名", "full_name"),
        ("お名前", "full_name"),
        ("フリガナ", "full_name_kana"),
        ("セイ", "last_name_kana"),
        ("メイ", "first_name_kana"),
        ("姓（フリガナ）", "last_name_kana"),
        ("会社名", "company"),
        ("Company Name", "company"),
        ("部署", "department"),
        ("役職", "title"),
        ("電話番号", "phone"),
        ("TEL", "phone"),
        ("ＴＥＬ", "phone"),
        ("都道府県", "prefecture"),
        ("住所", "address"),
        ("業種", "industry"),
        ("従業員数", "employee_count"),
        ("資本金", "capital"),
        ("ステージ", "stage"),
        ("タグ", "tags"),
        ("last_name", "last_name"),
        ("First Name", "first_name"),
        ("備考", ""),
    ],
)
def test_header_names_suggest_fields(header, target):
    assert suggest_mapping([header], {}) == {header: target}


def test_each_field_is_suggested_for_its_first_column_only_but_tags_for_all():
    mapping = suggest_mapping(["TEL", "携帯電話", "タグ", "Tags"], {})

    assert mapping == {"TEL": "phone", "携帯電話": "", "タグ": "tags", "Tags": "tags"}


@pytest.mark.django_db
def test_custom_fields_are_found_by_label_and_by_custom_key():
    CustomField.objects.create(key="budget", label="予算", type=CustomField.Type.NUMBER)
    CustomField.objects.create(key="interest", label="関心", type=CustomField.Type.TEXT)

    mapping = suggest_mapping(["予算", "custom.interest"], active_fields())

    assert mapping == {"予算": "custom.budget", "custom.interest": "custom.interest"}


@pytest.mark.django_db
def test_full_name_is_split_at_a_full_width_or_half_width_space_and_tags_on_separators():
    content = (
        "Eメール,氏名,フリガナ,タグ\r\n"
        "a@acme.co.jp,山田　太郎,ヤマダ　タロウ,展示会2026;名刺、VIP\r\n"
        "b@acme.co.jp,佐藤 花子,ｻﾄｳ ﾊﾅｺ,\r\n"
        "c@acme.co.jp,鈴木,,\r\n"
    ).encode("cp932")
    job = import_job_create(filename="cards.csv", content=content)
    mapping, _remembered = mapping_initial(job.headers, active_fields())

    import_job_start(job=job, mapping=mapping)

    a = Lead.objects.get(email="a@acme.co.jp")
    assert (a.last_name, a.first_name, a.last_name_kana, a.first_name_kana) == (
        "山田", "太郎", "ヤマダ", "タロウ"
    )  # fmt: skip
    assert sorted(a.lead_tags.values_list("tag__name", flat=True)) == ["VIP", "名刺", "展示会2026"]
    b = Lead.objects.get(email="b@acme.co.jp")
    assert (b.last_name_kana, b.first_name_kana) == ("サトウ", "ハナコ")  # half-width folded
    c = Lead.objects.get(email="c@acme.co.jp")
    assert (c.last_name, c.first_name) == ("鈴木", "")


@pytest.mark.parametrize(
    ("full_name", "parts"),
    [
        ("山田　太郎", ["山田", "太郎"]),
        ("山田 太郎", ["山田", "太郎"]),
        ("Taro Yamada", ["Yamada", "Taro"]),
        ("Jane M. Smith", ["Smith", "Jane M."]),
        ("ヤマダ", ["ヤマダ"]),
    ],
)
def test_full_name_order_follows_its_script(full_name, parts):
    assert split_full_name(full_name) == parts


@pytest.mark.django_db
def test_mapping_chosen_once_is_offered_again_for_the_same_headers_in_any_order():
    # given a list whose "備考" column the marketer mapped to the job title
    first = import_job_create(
        filename="a.csv", content="メール,備考,会社\r\na@x.co.jp,部長,A社\r\n".encode("cp932")
    )
    mapping, remembered = mapping_initial(first.headers, active_fields())
    assert not remembered and mapping["備考"] == ""
    import_job_start(job=first, mapping={**mapping, "備考": "title"})

    # when a file with the same columns (in another order) is uploaded
    second = import_job_create(
        filename="b.csv", content="会社,メール,備考\r\nB社,b@x.co.jp,課長\r\n".encode()
    )
    offered, remembered = mapping_initial(second.headers, active_fields())

    # then the remembered mapping is offered
    assert remembered
    assert offered == {"会社": "company", "メール": "email", "備考": "title"}
    assert ImportMapping.objects.count() == 1
    assert ImportMapping.objects.get().header_signature == header_signature(
        ["備考", "会社", "メール"]
    )
    # and a file with other columns gets suggestions only
    other = import_job_create(filename="c.csv", content="メール,備考\r\nc@x.co.jp,x\r\n".encode())
    assert mapping_initial(other.headers, active_fields()) == (
        {"メール": "email", "備考": ""},
        False,
    )


def test_mapping_without_email_or_with_a_field_twice_is_refused():
    headers = ["氏名", "TEL", "携帯"]
    with translation.override("en"), pytest.raises(ValidationError) as info:
        check_mapping(headers, {"氏名": "full_name", "TEL": "phone", "携帯": "phone"}, {})

    messages = " ".join(info.value.messages)
    assert "email address" in messages
    assert "TEL、携帯" in messages
