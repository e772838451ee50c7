"""Values as Excel lists write them: full-width letters and digits, numbers
with units, prefectures inside addresses, yes/no marks, Japanese stages."""

import pytest
from django.utils import translation

from leads.custom_fields import active_fields
from leads.imports.mapping import mapping_initial
from leads.imports.rows import parse_count, parse_flag, parse_yen, prefecture_in_address
from leads.imports.services import import_job_create, import_job_start
from leads.models import CustomField, ImportJob, Lead, Stage


def run_import(text: str, encoding: str = "cp932") -> ImportJob:
    job = import_job_create(filename="list.csv", content=text.encode(encoding))
    mapping, _remembered = mapping_initial(job.headers, active_fields())
    return import_job_start(job=job, mapping=mapping)


@pytest.mark.django_db
def test_full_width_characters_typed_in_excel_are_folded():
    # given a row typed with the Japanese IME in full-width mode
    job = run_import(
        "メールアドレス,電話番号,従業員数,資本金,住所,フリガナ\r\n"
        "ｙａｍａｄａ＠ａｃｍｅ．ｃｏ．ｊｐ,０３ー１２３４ー５６７８,１，２００名,"
        "１億２，０００万円,東京都千代田区丸の内１－１,ﾔﾏﾀﾞ ﾀﾛｳ\r\n"
    )

    # then the lead holds the ordinary forms
    assert job.created_count == 1, job.rejected
    lead = Lead.objects.get()
    assert lead.email == "yamada@acme.co.jp"
    assert lead.phone == "03-1234-5678"
    assert lead.employee_count == 1200
    assert lead.capital == 120_000_000
    assert lead.prefecture == "13"  # taken from the address
    assert lead.address == "東京都千代田区丸の内１－１"  # free text is kept as typed
    assert (lead.last_name_kana, lead.first_name_kana) == ("ヤマダ", "タロウ")


@pytest.mark.parametrize(
    ("raw", "count"),
    [("1,200", 1200), ("約300人", 300), ("５０名以上", 50), ("多数", "多数")],
)
def test_employee_counts(raw, count):
    assert parse_count(raw) == count


@pytest.mark.parametrize(
    ("raw", "yen"),
    [
        ("10,000,000", 10_000_000),
        ("5000万円", 50_000_000),
        ("1.5億", 150_000_000),
        ("￥３，０００，０００", 3_000_000),
        ("1兆2億", 1_000_200_000_000),
        ("非公開", "非公開"),
    ],
)
def test_capital_in_yen(raw, yen):
    assert parse_yen(raw) == yen


@pytest.mark.parametrize(
    ("raw", "flag"), [("○", True), ("はい", True), ("1", True), ("×", False), ("なし", False)]
)
def test_yes_no_marks(raw, flag):
    assert parse_flag(raw) is flag


def test_prefecture_in_address():
    assert prefecture_in_address("京都府京都市") == "京都府"
    assert prefecture_in_address("東京都港区") == "東京都"
    assert prefecture_in_address("港区芝公園") == ""


@pytest.mark.django_db
def test_stage_by_japanese_word_english_label_or_code_and_flags():
    job = run_import(
        "メール,ステージ,競合\r\n"
        "a@x.co.jp,興味,○\r\n"
        "b@x.co.jp,Consideration,×\r\n"
        "c@x.co.jp,trial,\r\n"
        "d@x.co.jp,そのうち,\r\n",
        encoding="utf-8",
    )

    stages = dict(Lead.objects.values_list("email", "stage"))
    assert stages == {
        "a@x.co.jp": Stage.INTEREST,
        "b@x.co.jp": Stage.CONSIDERATION,
        "c@x.co.jp": Stage.TRIAL,
    }
    assert Lead.objects.get(email="a@x.co.jp").is_competitor is True
    assert Lead.objects.get(email="b@x.co.jp").is_competitor is False
    assert [r["row"] for r in job.rejected] == [5]
    assert job.rejected[0]["reason"].startswith("ステージ: ")


@pytest.mark.django_db
def test_custom_field_values_are_validated_and_reported_by_column():
    CustomField.objects.create(key="budget", label="予算", type=CustomField.Type.NUMBER)

    job = run_import("メール,予算\r\na@x.co.jp,５００\r\nb@x.co.jp,未定\r\n")

    assert Lead.objects.get(email="a@x.co.jp").custom == {"budget": 500}
    assert [r["row"] for r in job.rejected] == [3]
    assert job.rejected[0]["reason"].startswith("予算: ")
    assert "未定" in job.rejected[0]["reason"]


@pytest.mark.django_db
def test_row_with_more_values_than_columns_is_rejected_not_shifted():
    # an unquoted "1,000" pushes every later value one column to the right
    with translation.override("en"):
        job = run_import(
            "メール,従業員数,部署\r\na@x.co.jp,1,000,営業部\r\nb@x.co.jp,50,総務部\r\n"
        )

    assert [r["row"] for r in job.rejected] == [2]
    assert "needs quotes" in job.rejected[0]["reason"]
    assert list(Lead.objects.values_list("email", flat=True)) == ["b@x.co.jp"]


@pytest.mark.django_db
def test_values_escaped_against_excel_formulas_come_back_unescaped():
    run_import("メール,部署\r\na@x.co.jp,'=営業部\r\n", encoding="utf-8")

    assert Lead.objects.get().department == "=営業部"
