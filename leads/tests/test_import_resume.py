"""An import is claimed once, works in slices, and a run that stopped carries
on after its last saved row without importing any row twice."""

import json

import psycopg2
import pytest
from django.db import connection

from leads.custom_fields import active_fields
from leads.imports.mapping import mapping_initial
from leads.imports.selectors import import_job_is_stalled
from leads.imports.services import (
    BATCH_ROWS,
    RUN_LOCK_CLASS,
    import_job_create,
    import_job_run,
)
from leads.models import Consent, ImportJob, Lead
from leads.tasks import import_run

ROWS = BATCH_ROWS * 2 + 50


def started_job(rows: int = ROWS) -> ImportJob:
    lines = ["メールアドレス,氏名"] + [f"user{i}@acme.co.jp,山田 太郎{i}" for i in range(rows)]
    lines.insert(3, "broken-address,壊れた 行")  # line 4 of the file
    job = import_job_create(
        filename="cards.csv",
        content="\r\n".join(lines).encode("cp932"),
        consent_basis=Consent.Basis.BUSINESS_CARD,
        tags=["展示会"],
    )
    mapping, _remembered = mapping_initial(job.headers, active_fields())
    ImportJob.objects.filter(pk=job.pk).update(mapping=mapping)
    return job


@pytest.mark.django_db
def test_a_run_out_of_time_stops_after_a_batch_and_the_next_run_carries_on(
    django_capture_on_commit_callbacks, redis_client
):
    job = started_job()

    # when the first run has no time left after its first batch
    with django_capture_on_commit_callbacks(execute=True):
        first = import_job_run(job_id=job.pk, time_budget=1e-9)

    # then one batch is saved and the rest is queued as a new task
    assert first.state == ImportJob.State.RUNNING
    assert first.processed_rows == BATCH_ROWS
    queued = [json.loads(m)["headers"] for m in redis_client.lrange("default", 0, -1)]
    assert [(h["task"], h["argsrepr"]) for h in queued if h["task"].startswith("leads.")] == [
        ("leads.tasks.import_run", f"({job.pk},)")
    ]
    assert Lead.objects.count() == BATCH_ROWS - 1  # line 4 is rejected

    # when the next task runs
    second = import_job_run(job_id=job.pk)

    # then every row is imported exactly once
    assert second.state == ImportJob.State.DONE
    assert second.processed_rows == second.total_rows == ROWS + 1
    assert second.created_count == ROWS
    assert [r["row"] for r in second.rejected] == [4]
    assert Lead.objects.count() == ROWS
    assert Consent.objects.count() == ROWS
    assert Lead.objects.filter(lead_tags__tag__name="展示会").count() == ROWS


@pytest.mark.django_db
def test_a_job_left_running_by_a_dead_run_is_stalled_and_resumes():
    # given a run that died after its first batch (state running, lock free)
    job = started_job()
    import_job_run(job_id=job.pk, time_budget=1e-9)
    job.refresh_from_db()
    assert import_job_is_stalled(job)

    # when the task is delivered again
    import_run.apply(args=[job.pk])

    # then it finished the file without duplicates
    job.refresh_from_db()
    assert job.state == ImportJob.State.DONE
    assert not import_job_is_stalled(job)
    assert Lead.objects.count() == ROWS == job.created_count
    assert Consent.objects.count() == ROWS


@pytest.mark.django_db
def test_a_run_leaves_a_job_alone_while_another_process_holds_its_lock():
    job = started_job(rows=10)
    db = connection.settings_dict
    other = psycopg2.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"]
    )
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [RUN_LOCK_CLASS, job.pk])

        assert import_job_run(job_id=job.pk) is None

        job.refresh_from_db()
        assert (job.state, job.processed_rows) == (ImportJob.State.PENDING, 0)
        assert not Lead.objects.exists()
        # a running job whose lock is held is alive, not stalled
        job.state = ImportJob.State.RUNNING
        assert not import_job_is_stalled(job)
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCK_CLASS, job.pk])
    finally:
        other.close()
    assert import_job_is_stalled(job)
    assert import_job_run(job_id=job.pk).state == ImportJob.State.DONE


@pytest.mark.django_db
def test_finished_unstarted_or_missing_jobs_are_left_alone():
    done = started_job(rows=5)
    import_job_run(job_id=done.pk)
    unmapped = import_job_create(filename="x.csv", content=b"email\r\na@x.jp\r\n")

    # a second run of a finished job, a job nobody started, a deleted job
    assert import_job_run(job_id=done.pk).state == ImportJob.State.DONE
    assert import_job_run(job_id=unmapped.pk).state == ImportJob.State.PENDING
    import_run.apply(args=[987654321])

    assert Lead.objects.count() == 5
    assert Consent.objects.count() == 5


@pytest.mark.django_db
def test_an_unexpected_error_fails_the_job_with_a_message_and_keeps_saved_rows(monkeypatch):
    job = started_job()
    calls = {"n": 0}
    from leads.imports import services

    real = services.lead_upsert

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] > BATCH_ROWS:
            raise RuntimeError("disk on fire")
        return real(**kwargs)

    monkeypatch.setattr(services, "lead_upsert", flaky)

    job = import_job_run(job_id=job.pk)

    assert job.state == ImportJob.State.FAILED
    assert "disk on fire" in job.error
    assert job.processed_rows == BATCH_ROWS
    assert Lead.objects.count() == BATCH_ROWS - 1
