"""Existing emails are updated or skipped as chosen; an address twice in one
file is handled the same way every time."""

import pytest
from django.utils import translation

from leads.custom_fields import active_fields
from leads.imports.mapping import mapping_initial
from leads.imports.services import import_job_create, import_job_start
from leads.models import ImportJob, Lead
from leads.tests.factories import LeadFactory

FILE = (
    "メールアドレス,役職,電話番号\r\n"
    "KNOWN@acme.co.jp,部長,\r\n"  # an existing lead, in other case
    "new@acme.co.jp,主任,03-0000-0000\r\n"
).encode("cp932")


def run_import(content: bytes, on_existing: str) -> ImportJob:
    job = import_job_create(filename="list.csv", content=content, on_existing=on_existing)
    mapping, _remembered = mapping_initial(job.headers, active_fields())
    return import_job_start(job=job, mapping=mapping)


@pytest.mark.django_db
def test_update_changes_existing_leads_but_never_blanks_a_value():
    known = LeadFactory(email="known@acme.co.jp", title="課長", phone="03-1111-1111")

    job = run_import(FILE, ImportJob.OnExisting.UPDATE)

    assert (job.created_count, job.updated_count, job.skipped_count) == (1, 1, 0)
    known.refresh_from_db()
    assert known.title == "部長"
    assert known.phone == "03-1111-1111"  # the empty cell left it alone
    assert Lead.objects.count() == 2


@pytest.mark.django_db
def test_skip_leaves_existing_leads_alone():
    known = LeadFactory(email="known@acme.co.jp", title="課長")

    job = run_import(FILE, ImportJob.OnExisting.SKIP)

    assert (job.created_count, job.updated_count, job.skipped_count) == (1, 0, 1)
    known.refresh_from_db()
    assert known.title == "課長"
    assert Lead.objects.filter(email="new@acme.co.jp").exists()


DUPLICATED = (
    "メール,役職,部署\r\na@acme.co.jp,課長,\r\nb@acme.co.jp,,\r\nA@acme.co.jp,部長,営業部\r\n"
).encode("cp932")


@pytest.mark.django_db
def test_address_twice_in_a_file_with_update_merges_into_one_lead_later_row_winning():
    job = run_import(DUPLICATED, ImportJob.OnExisting.UPDATE)

    assert (job.created_count, job.updated_count, job.rejected) == (2, 1, [])
    a = Lead.objects.get(email="a@acme.co.jp")
    assert (a.title, a.department) == ("部長", "営業部")


@pytest.mark.django_db
def test_address_twice_in_a_file_with_skip_keeps_the_first_and_reports_the_second():
    with translation.override("en"):
        job = run_import(DUPLICATED, ImportJob.OnExisting.SKIP)

    assert job.created_count == 2
    assert [r["row"] for r in job.rejected] == [4]
    assert "also on row 2 of this file" in job.rejected[0]["reason"]
    assert Lead.objects.get(email="a@acme.co.jp").title == "課長"
