"""Celery tasks of leads. Thin: they take ids and call services.

``leads.*`` tasks have no route of their own (ma_core.settings.tasks), so
they run on the "default" queue.
"""

from __future__ import annotations

from celery import shared_task

from leads.imports.services import SLICE_SECONDS, import_job_run


@shared_task(name="leads.tasks.import_run")
def import_run(job_id: int) -> None:
    """Run (or resume) the CSV import ``job_id``; returns quietly when the job
    is gone, already finished, or being run by another process.

    Idempotency: safe to run twice or at the same time. The job is claimed
    with a conditional UPDATE (pending → running) under a PostgreSQL advisory
    lock, so a second delivery returns at once; progress commits with each
    batch of rows, so a later run resumes after the last saved row and never
    imports a row twice.

    Recovery of a killed worker: the lock dies with the worker's database
    connection, leaving the job "running" and resumable. The task is
    redelivered (acks_late; at once if only the pool process died, after the
    broker's visibility timeout if the whole worker did), and the import's
    status page offers "Carry on" to queue it again right away.

    A long file is worked in slices of SLICE_SECONDS, each queuing the next,
    so no run comes near the task time limit.
    """
    import_job_run(job_id=job_id, time_budget=SLICE_SECONDS)
