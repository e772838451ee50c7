"""A large import runs in a real Celery worker: the progress bar's status
reaches 100%, a task delivered twice imports each row once, and the import
of a killed worker carries on in another one without duplicates."""

import pytest
from django.urls import reverse

from leads.custom_fields import active_fields
from leads.imports.mapping import mapping_initial
from leads.imports.selectors import import_job_is_stalled
from leads.imports.services import (
    BATCH_ROWS,
    INLINE_MAX_ROWS,
    import_job_create,
    import_job_resume,
    import_job_start,
)
from leads.models import Consent, ImportJob, Lead, TagChange
from leads.tasks import import_run
from ma_core.testing.waiting import wait_until

ROWS = INLINE_MAX_ROWS + 500  # too many rows for the request: a worker runs it


def cards(rows: int) -> bytes:
    lines = ["メールアドレス,氏名,会社名,都道府県"]
    lines += [
        f"user{i}@acme{i % 50}.co.jp,山田 太郎{i},株式会社アクメ{i % 50},東京都"
        for i in range(rows)
    ]
    return ("\r\n".join(lines) + "\r\n").encode("cp932")


def new_job(rows: int = ROWS) -> ImportJob:
    return import_job_create(
        filename="展示会.csv",
        content=cards(rows),
        consent_basis=Consent.Basis.BUSINESS_CARD,
        tags=["展示会2026"],
    )


def finished(job: ImportJob) -> bool:
    job.refresh_from_db(fields=["state", "processed_rows"])
    return job.state in (ImportJob.State.DONE, ImportJob.State.FAILED)


def assert_each_row_imported_once(job: ImportJob, rows: int = ROWS) -> None:
    job.refresh_from_db()
    assert job.state == ImportJob.State.DONE, job.error
    assert job.processed_rows == job.total_rows == rows
    assert (job.created_count, job.updated_count, job.rejected) == (rows, 0, [])
    assert Lead.objects.count() == rows
    assert Consent.objects.count() == rows
    assert TagChange.objects.filter(tag__name="展示会2026").count() == rows


@pytest.mark.django_db(transaction=True)
def test_large_import_runs_in_a_worker_and_its_progress_reaches_100(
    celery_worker_process, admin_client
):
    # given a worker on the default queue (leads.* tasks are not routed elsewhere)
    celery_worker_process("default")
    job = new_job()
    mapping, _remembered = mapping_initial(job.headers, active_fields())

    # when the import is started
    job = import_job_start(job=job, mapping=mapping)

    # then the request did not run it, and the status the progress bar polls
    # climbs to 100%
    assert job.processed_rows < ROWS
    url = reverse("admin:leads_importjob_status_json", args=[job.pk])
    seen: list[int] = []

    def poll() -> bool:
        status = admin_client.get(url).json()
        seen.append(status["percent"])
        return status["finished"]

    wait_until(poll, timeout=180)
    status = admin_client.get(url).json()
    assert (status["state"], status["percent"], status["processed_rows"]) == ("done", 100, ROWS)
    assert seen == sorted(seen)
    assert any(0 < percent < 100 for percent in seen), seen
    assert_each_row_imported_once(job)


@pytest.mark.django_db(transaction=True)
def test_the_task_delivered_twice_imports_each_row_once(celery_worker_process):
    # given two worker processes and the same task queued twice
    celery_worker_process("default", concurrency=2)
    job = new_job()
    mapping, _remembered = mapping_initial(job.headers, active_fields())
    ImportJob.objects.filter(pk=job.pk).update(mapping=mapping)

    import_run.delay(job.pk)
    import_run.delay(job.pk)
    wait_until(lambda: finished(job), timeout=180)
    # and once more after it finished
    import_run.apply(args=[job.pk])

    assert_each_row_imported_once(job)


@pytest.mark.django_db(transaction=True)
def test_import_of_a_killed_worker_carries_on_in_another_without_duplicates(
    celery_worker_process,
):
    # given an import under way in a worker
    worker = celery_worker_process("default")
    job = new_job()
    mapping, _remembered = mapping_initial(job.headers, active_fields())
    import_job_start(job=job, mapping=mapping)
    wait_until(lambda: finished(job) or job.processed_rows >= 2 * BATCH_ROWS, timeout=180)

    # when the worker is killed (SIGKILL, as a crashed machine)
    worker.kill()

    # then the job is left running with its saved rows, and is seen as stalled
    job.refresh_from_db()
    assert job.state == ImportJob.State.RUNNING
    assert 2 * BATCH_ROWS <= job.processed_rows < ROWS
    wait_until(lambda: import_job_is_stalled(job), timeout=30)

    # when it is resumed (the status page's button) with a new worker
    celery_worker_process("default")
    assert import_job_resume(job=job)
    wait_until(lambda: finished(job), timeout=180)

    # then every row is imported exactly once
    assert_each_row_imported_once(job)
