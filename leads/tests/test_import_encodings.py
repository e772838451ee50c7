"""Excel's Japanese CSV (CP932), UTF-8 with and without BOM, UTF-16 text and
tab-separated files import; workbooks and binaries are refused clearly."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from leads.custom_fields import active_fields
from leads.imports.files import decode_upload, read_csv
from leads.imports.mapping import mapping_initial
from leads.imports.services import import_job_create, import_job_start
from leads.models import ImportJob, Lead

CARDS = (
    "メールアドレス,氏名,会社名,部署,役職,電話番号,都道府県\r\n"
    "yamada@acme.co.jp,山田　太郎,株式会社アクメ,営業部,部長,03-1234-5678,東京都\r\n"
    "sato@acme.co.jp,佐藤 花子,株式会社アクメ,総務部,課長,03-1234-5679,大阪府\r\n"
    "not-an-email,鈴木 一郎,鈴木商店,,,,\r\n"
    "takahashi@example.jp,髙橋 健,①テック㈱,開発部,,,神奈川県\r\n"
)


@pytest.fixture(autouse=True)
def english():
    """Messages are checked in their English source text."""
    with translation.override("en"):
        yield


def run_import(content: bytes, **options) -> ImportJob:
    job = import_job_create(filename="cards.csv", content=content, **options)
    mapping, _remembered = mapping_initial(job.headers, active_fields())
    return import_job_start(job=job, mapping=mapping)


@pytest.mark.django_db
def test_cp932_file_keeps_good_rows_and_reports_the_bad_one_with_its_line():
    # given Excel's "CSV (comma delimited)": CP932, with NEC special characters
    content = CARDS.encode("cp932")

    # when it is imported
    job = run_import(content)

    # then every good row is a lead, decoded correctly
    assert job.encoding == "cp932"
    assert job.state == ImportJob.State.DONE
    assert (job.total_rows, job.processed_rows, job.created_count) == (4, 4, 3)
    yamada = Lead.objects.get(email="yamada@acme.co.jp")
    assert (yamada.last_name, yamada.first_name) == ("山田", "太郎")
    assert (yamada.company_name, yamada.department, yamada.title) == (
        "株式会社アクメ",
        "営業部",
        "部長",
    )
    assert yamada.prefecture == "13"
    assert Lead.objects.get(email="takahashi@example.jp").last_name == "髙橋"
    assert Lead.objects.get(email="takahashi@example.jp").company_name == "①テック㈱"
    # and the bad row is reported by its line in the file (header = line 1)
    assert len(job.rejected) == 1
    assert job.rejected[0]["row"] == 4
    assert job.rejected[0]["reason"].startswith("メールアドレス: ")
    assert "not-an-email" in job.rejected[0]["reason"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        (CARDS.encode("utf-8-sig"), "utf-8-sig"),
        (CARDS.encode("utf-8"), "utf-8"),
        (CARDS.replace(",", "\t").encode("utf-16"), "utf-16"),
    ],
)
def test_utf8_with_or_without_bom_and_utf16_text_import_the_same(encoded, encoding):
    job = run_import(encoded)

    assert job.encoding == encoding
    assert job.created_count == 3
    assert [r["row"] for r in job.rejected] == [4]
    assert Lead.objects.get(email="sato@acme.co.jp").first_name == "花子"
    # the BOM does not end up in the first header
    assert job.headers[0] == "メールアドレス"


@pytest.mark.django_db
def test_tab_separated_file_is_recognised():
    job = run_import(CARDS.replace(",", "\t").encode("cp932"))

    assert job.created_count == 3
    assert Lead.objects.get(email="yamada@acme.co.jp").department == "営業部"


def test_quoted_values_with_commas_and_line_breaks_keep_their_line_numbers():
    # given a note that spans two lines (Alt+Enter in Excel)
    text = 'メール,住所\r\n"a@x.jp","東京都港区1-2-3,\r\n5F"\r\n\r\nb@x.jp,大阪府\r\n'

    table = read_csv(text.encode("utf-8"))

    records = list(table.records())
    assert [r.line for r in records] == [2, 5]  # the blank line 4 is skipped
    assert table.values(records[0])["住所"] == "東京都港区1-2-3,\r\n5F"
    assert table.row_count == 2


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"PK\x03\x04" + b"\x00" * 100, "Excel workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "Excel workbook"),
        (bytes(range(256)) * 20, "does not look like a CSV"),
        (b"", "empty"),
    ],
)
def test_workbooks_and_binaries_are_refused_with_advice(content, words):
    with pytest.raises(ValidationError) as info:
        decode_upload(content)
    message = info.value.messages[0]
    assert words in message
    if words != "empty":
        assert "CSV UTF-8" in message


def test_text_in_no_known_encoding_is_refused():
    # EUC-JP is neither UTF-8 nor CP932
    with pytest.raises(ValidationError) as info:
        decode_upload("メール\r\nあ@x.jp\r\n".encode("euc_jp") + b"\xfe\xfe\xfe")
    assert "Shift_JIS" in info.value.messages[0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("メールアドレス,氏名\r\n".encode("cp932"), "no data rows"),
        (b"\r\n\r\n", "no header row"),
    ],
)
def test_upload_without_rows_is_refused_and_nothing_is_stored(content, words):
    with pytest.raises(ValidationError) as info:
        import_job_create(filename="empty.csv", content=content)

    assert words in " ".join(info.value.message_dict["file"])
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_a_title_line_above_the_header_is_skipped():
    text = "2026年春 展示会 名刺リスト\r\n\r\nメール\t氏名\r\na@x.co.jp\t山田 太郎\r\n"

    job = run_import(text.encode("cp932"))

    assert job.headers == ["メール", "氏名"]
    assert (job.total_rows, job.created_count) == (1, 1)
    assert Lead.objects.get().last_name == "山田"


def test_a_one_column_list_of_addresses_keeps_its_header():
    table = read_csv(b"email\r\na@x.jp\r\nb@x.jp\r\n")

    assert (table.headers, table.row_count) == (["email"], 2)
