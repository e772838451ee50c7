"""The admin flow a marketer walks: upload → mapping with preview → start →
result with rejected rows and their download; others get 403; bad files get a
message, never a 500."""

import csv
import io
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from leads.imports.services import INLINE_MAX_ROWS
from leads.models import Consent, ImportJob, ImportMapping, Lead

CARDS = (
    "メールアドレス,氏名,会社名,備考\r\n"
    "yamada@acme.co.jp,山田　太郎,株式会社アクメ,ブース来訪\r\n"
    "yamada-at-acme,鈴木 一郎,鈴木商店,\r\n"
    "sato@acme.co.jp,佐藤 花子,株式会社アクメ,\r\n"
).encode("cp932")


@pytest.fixture(autouse=True)
def english(client):
    """Pages and messages are checked in their English source text."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def marketer(db):
    user = get_user_model().objects.create_user("marketer", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketer"))
    return user


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


def upload(client, content: bytes = CARDS, name: str = "名刺.csv", **fields):
    data = {
        "file": SimpleUploadedFile(name, content, content_type="text/csv"),
        "on_existing": "update",
        "tags": "展示会2026、名刺",
        "consent_basis": "business_card",
        "consent_text": "名刺交換時に案内をお伝えしました",
        **fields,
    }
    return client.post(reverse("admin:leads_importjob_add"), data)


def selected_targets(html: str) -> dict[str, str]:
    """{select name: selected value} of the mapping page."""
    result = {}
    for name, body in re.findall(r'<select name="(column_\d+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        result[name] = chosen.group(1) if chosen else ""
    return result


def test_upload_mapping_preview_start_and_result(marketer_client):
    # given the upload page
    page = marketer_client.get(reverse("admin:leads_importjob_add"))
    assert page.status_code == 200
    assert 'type="file"' in page.content.decode()

    # when business cards are uploaded
    response = upload(marketer_client)

    # then the mapping page shows suggestions and a preview with the bad row
    job = ImportJob.objects.get()
    mapping_url = reverse("admin:leads_importjob_mapping", args=[job.pk])
    assert response.status_code == 302 and response["Location"] == mapping_url
    assert (job.encoding, job.total_rows, job.tags) == ("cp932", 3, ["展示会2026", "名刺"])
    html = marketer_client.get(mapping_url).content.decode()
    assert selected_targets(html) == {
        "column_0": "email", "column_1": "full_name", "column_2": "company", "column_3": ""
    }  # fmt: skip
    preview = html[html.index('id="import-preview"') :]
    assert "山田" in preview and "太郎" in preview
    assert "New lead" in preview
    assert re.search(
        r"<td>3</td>\s*<td class=\"outcome-reject\">Rejected: メールアドレス: ", preview
    )
    assert not Lead.objects.exists()  # the preview writes nothing

    # when the marketer maps 備考 to the job title and starts
    response = marketer_client.post(
        mapping_url,
        {"column_0": "email", "column_1": "full_name", "column_2": "company", "column_3": "title",
         "start": "1"},
    )  # fmt: skip

    # then the small file was imported right away and the result is shown
    status_url = reverse("admin:leads_importjob_status", args=[job.pk])
    assert response.status_code == 302 and response["Location"] == status_url
    html = marketer_client.get(status_url).content.decode()
    assert 'id="import-created">2<' in html
    assert 'id="import-rejected">1<' in html
    assert re.search(r"<td>3</td><td>メールアドレス: .*yamada-at-acme", html)
    assert Lead.objects.get(email="yamada@acme.co.jp").title == "ブース来訪"
    assert Consent.objects.filter(basis="business_card").count() == 2
    assert ImportMapping.objects.get().mapping["備考"] == "title"

    # and the rejected rows download as a CSV Excel opens, ready to fix
    download = marketer_client.get(reverse("admin:leads_importjob_rejected", args=[job.pk]))
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    assert download.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["メールアドレス", "氏名", "会社名", "備考"]
    assert rows[1][:4] == ["yamada-at-acme", "鈴木 一郎", "鈴木商店", ""]
    assert rows[1][4] == "3"
    assert rows[1][5].startswith("メールアドレス: ")

    # and starting again (a double click) changes nothing
    again = marketer_client.post(mapping_url, {"column_0": "email", "start": "1"})
    assert again.status_code == 302
    assert Lead.objects.count() == 2


def test_fixed_rejected_rows_reimport_with_the_remembered_mapping(marketer_client):
    # given an import with one rejected row
    upload(marketer_client)
    job = ImportJob.objects.get()
    marketer_client.post(
        reverse("admin:leads_importjob_mapping", args=[job.pk]),
        {"column_0": "email", "column_1": "full_name", "column_2": "company", "column_3": "title",
         "start": "1"},
    )  # fmt: skip
    download = marketer_client.get(reverse("admin:leads_importjob_rejected", args=[job.pk]))

    # when the marketer fixes the address and uploads the download
    fixed = download.content.decode("utf-8-sig").replace("yamada-at-acme", "suzuki@suzuki.jp")
    upload(marketer_client, fixed.encode("utf-8-sig"), name="fixed.csv")

    # then the mapping chosen for the original is offered
    second = ImportJob.objects.order_by("-pk").first()
    html = marketer_client.get(
        reverse("admin:leads_importjob_mapping", args=[second.pk])
    ).content.decode()
    assert "imported before" in html
    assert selected_targets(html) == {
        "column_0": "email", "column_1": "full_name", "column_2": "company", "column_3": "title",
        "column_4": "", "column_5": "",
    }  # fmt: skip


def test_mapping_without_an_email_column_is_refused_on_the_page(marketer_client):
    upload(marketer_client)
    job = ImportJob.objects.get()

    response = marketer_client.post(
        reverse("admin:leads_importjob_mapping", args=[job.pk]),
        {"column_0": "", "column_1": "full_name", "start": "1"},
    )

    assert response.status_code == 200
    assert "holds the email address" in response.content.decode()
    job.refresh_from_db()
    assert (job.state, job.mapping) == (ImportJob.State.PENDING, {})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04" + bytes(200), "Excel workbook"),
        (bytes(range(256)) * 10, "does not look like a CSV"),
        ("メールアドレス\r\n".encode("cp932"), "no data rows"),
        (b"", "empty"),
    ],
)
def test_a_file_that_is_not_a_usable_csv_gets_a_message_and_stores_nothing(
    marketer_client, content, message
):
    response = upload(marketer_client, content)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ImportJob.objects.exists()


def test_a_large_file_is_queued_for_a_worker_and_the_page_polls_its_status(
    marketer_client, django_capture_on_commit_callbacks, redis_client
):
    lines = ["メール"] + [f"u{i}@acme.co.jp" for i in range(INLINE_MAX_ROWS + 1)]
    upload(marketer_client, "\r\n".join(lines).encode("cp932"))
    job = ImportJob.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = marketer_client.post(
            reverse("admin:leads_importjob_mapping", args=[job.pk]),
            {"column_0": "email", "start": "1"},
        )

    # the request did not import; the task is on the default queue
    assert response.status_code == 302
    assert not Lead.objects.exists()
    queued = [json.loads(m)["headers"] for m in redis_client.lrange("default", 0, -1)]
    assert [(h["task"], h["argsrepr"]) for h in queued if h["task"].startswith("leads.")] == [
        ("leads.tasks.import_run", f"({job.pk},)")
    ]
    # the status page has a progress bar polling the JSON status
    html = marketer_client.get(response["Location"]).content.decode()
    json_url = reverse("admin:leads_importjob_status_json", args=[job.pk])
    assert f'data-url="{json_url}"' in html
    assert '<progress id="import-progress" max="100" value="0">' in html
    assert "Waiting for a background worker" in html
    status = marketer_client.get(json_url).json()
    assert status["state"] == "pending"
    assert (status["percent"], status["total_rows"], status["finished"]) == (0, 1001, False)


def test_a_user_without_import_permissions_gets_403(client, db):
    # given staff who may view leads but not add them (a sales rep)
    rep = get_user_model().objects.create_user("rep", password="pw", is_staff=True)
    rep.groups.add(Group.objects.get(name="Sales rep"))
    job = ImportJob.objects.create(filename="x.csv", content=CARDS, headers=["メールアドレス"])
    client.force_login(rep)

    assert client.get(reverse("admin:leads_importjob_add")).status_code == 403
    assert upload(client).status_code == 403
    mapping_url = reverse("admin:leads_importjob_mapping", args=[job.pk])
    assert client.get(mapping_url).status_code == 403
    assert client.post(mapping_url, {"column_0": "email", "start": "1"}).status_code == 403
    resume_url = reverse("admin:leads_importjob_resume", args=[job.pk])
    assert client.post(resume_url).status_code == 403
    assert ImportJob.objects.count() == 1 and not Lead.objects.exists()


def test_add_importjob_alone_is_not_enough_to_import(client, db):
    user = get_user_model().objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_importjob"))
    client.force_login(user)

    assert client.get(reverse("admin:leads_importjob_add")).status_code == 403


def test_the_import_list_shows_progress_and_counts(marketer_client):
    upload(marketer_client)
    job = ImportJob.objects.get()
    marketer_client.post(
        reverse("admin:leads_importjob_mapping", args=[job.pk]),
        {"column_0": "email", "column_1": "full_name", "start": "1"},
    )

    html = marketer_client.get(reverse("admin:leads_importjob_changelist")).content.decode()

    assert "名刺.csv" in html
    assert "100%" in html
    # the change link leads to the result page, not an edit form
    change = marketer_client.get(reverse("admin:leads_importjob_change", args=[job.pk]))
    assert change["Location"] == reverse("admin:leads_importjob_status", args=[job.pk])
