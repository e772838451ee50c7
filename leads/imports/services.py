"""Writes of a CSV import: upload → mapping → run (in the request or in a
worker) → result. Reads (preview, progress, rejected rows) live in
``leads.imports.selectors``."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.custom_fields import active_fields
from leads.emails import normalize_email
from leads.imports.files import CsvTable, ImportFileError, read_csv
from leads.imports.mapping import TAGS, check_mapping, mapping_remember
from leads.imports.rows import (
    LeadRow,
    lead_row,
    rejection_reason,
    repeated_email_reason,
    surplus_reason,
)
from leads.models import ActorKind, Consent, ImportJob
from leads.services import consent_record, lead_upsert, tags_add_bulk
from ma_core.locks import session_lock

logger = logging.getLogger(__name__)

#: Files up to this many rows run in the request that starts them, so the
#: marketer sees the result at once; larger ones go to a Celery worker.
#: About 1,000 rows take a few seconds, well inside any proxy timeout.
INLINE_MAX_ROWS = 1_000

#: Rows written per transaction. Progress (processed_rows, counts, rejected
#: rows) is committed with each batch, so it is also how often the progress
#: bar moves and how much work a killed worker repeats. Each row is its own
#: savepoint inside the batch, so a bad row never costs the good ones; larger
#: batches save commits but hold row locks on the batch's leads longer.
BATCH_ROWS = 200

#: A worker stops after this long, and queues the rest of the file as a new
#: task, well before CELERY_TASK_SOFT_TIME_LIMIT (300 s) would stop it.
SLICE_SECONDS = 240

#: First argument of the PostgreSQL advisory lock that a running import holds
#: (the second is the job id): "IM".
RUN_LOCK_CLASS = 0x494D

#: Longest tag name a Tag takes (Tag.name max_length).
MAX_TAG_LENGTH = 100


class _JobGone(Exception):
    """The job row was deleted while it ran."""


class _RowRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- upload and start -------------------------------------------------------------------------


def split_tag_names(raw: str | Iterable[str]) -> list[str]:
    """Tag names from "展示会2026; 名刺、VIP" (or a list), in order, without repeats."""
    parts = raw if not isinstance(raw, str) else raw.replace("、", ";").replace(",", ";").split(";")
    names: list[str] = []
    for part in parts:
        name = str(part).strip()
        if name and name not in names:
            names.append(name)
    return names


def import_job_create(
    *,
    filename: str,
    content: bytes,
    uploaded_by=None,
    on_existing: str = ImportJob.OnExisting.UPDATE,
    tags: Iterable[str] = (),
    consent_basis: str = "",
    consent_text: str = "",
) -> ImportJob:
    """Check an uploaded file and keep it as a pending import.

    Raises ValidationError keyed by "file", "on_existing", "tags" or
    "consent_basis"; nothing is stored then.
    """
    errors: dict[str, list[str]] = {}
    if on_existing not in ImportJob.OnExisting.values:
        errors["on_existing"] = [_("Choose whether to update or skip existing leads.")]
    if consent_basis and consent_basis not in Consent.Basis.values:
        errors["consent_basis"] = [
            _("“%(value)s” is not a consent basis.") % {"value": consent_basis}
        ]
    tag_names = split_tag_names(tags)
    too_long = [name for name in tag_names if len(name) > MAX_TAG_LENGTH]
    if too_long:
        errors["tags"] = [
            _("A tag is at most %(max)s characters: “%(tag)s”.")
            % {"max": MAX_TAG_LENGTH, "tag": too_long[0]}
        ]
    table: CsvTable | None = None
    try:
        table = read_csv(content)
    except ImportFileError as exc:
        errors["file"] = exc.messages
    if errors or table is None:
        raise ValidationError(errors)
    return ImportJob.objects.create(
        filename=filename[:255],
        content=content,
        encoding=table.encoding,
        headers=table.headers,
        total_rows=table.row_count,
        on_existing=on_existing,
        tags=tag_names,
        consent_basis=consent_basis,
        consent_text=consent_text,
        uploaded_by=uploaded_by,
    )


def import_job_start(*, job: ImportJob, mapping: dict[str, str]) -> ImportJob:
    """Fix the column mapping, remember it for this set of headers, and run the
    import: here and now for small files, else in a worker after commit.

    A job starts once: its mapping is set by a conditional UPDATE, so a
    double-clicked "Start" cannot start it twice.
    """
    cleaned = check_mapping(job.headers, mapping, active_fields())
    started = ImportJob.objects.filter(pk=job.pk, state=ImportJob.State.PENDING, mapping={}).update(
        mapping=cleaned
    )
    if not started:
        raise ValidationError(_("This import has already been started."), code="started")
    mapping_remember(headers=job.headers, mapping=cleaned)
    if job.total_rows <= INLINE_MAX_ROWS:
        import_job_run(job_id=job.pk)
    else:
        _enqueue(job.pk)
    return ImportJob.objects.defer("content").get(pk=job.pk)


def import_job_resume(*, job: ImportJob) -> bool:
    """Queue a job again: one whose run died (worker or web process killed)
    carries on after its last saved row; one still waiting for a worker (the
    broker was down when it was queued) is queued once more. Harmless if it
    is running after all: the run lock makes the extra task return at once.
    Returns False when there is nothing to resume."""
    from leads.imports.selectors import import_job_is_stalled, import_job_is_waiting

    if not (import_job_is_stalled(job) or import_job_is_waiting(job)):
        return False
    _enqueue(job.pk)
    return True


def _enqueue(job_id: int) -> None:
    from leads.tasks import import_run

    # robust: with the broker down the job stays "waiting" (the status page
    # offers to queue it again) instead of the request failing.
    transaction.on_commit(lambda: import_run.delay(job_id), robust=True)


# -- the run ------------------------------------------------------------------------------------


def run_lock_key(job_id: int) -> list[int]:
    """The two int4 keys of the job's advisory lock."""
    return [RUN_LOCK_CLASS, job_id % 2**31]


@contextmanager
def run_lock(job_id: int) -> Iterator[bool]:
    """Try to take the job's session-level advisory lock; yields whether it did.

    The lock lives as long as the database connection, so a worker or web
    process that dies mid-import releases it with its connection. That is how
    a later run tells a dead "running" job (lock free) from a live one (lock
    held). See ``ma_core.locks.session_lock``.
    """
    with session_lock(*run_lock_key(job_id)) as locked:
        yield locked


def import_job_run(*, job_id: int, time_budget: float | None = None) -> ImportJob | None:
    """Import the rows of a started job; safe to call any number of times.

    Claim: pending → running by a conditional UPDATE, under the advisory lock
    of ``run_lock``; a second caller finds the lock taken, or the job running
    or finished, and returns without doing anything. A job found "running"
    while the lock is free was left by a dead run and is resumed.

    Idempotency: each batch of rows commits together with the job's progress,
    so a resumed run starts after the last committed row and no row is
    imported twice (and leads are matched by email anyway).

    With ``time_budget`` (seconds) the run stops between batches once the
    budget is spent and queues the rest as a new task.
    """
    carry_on = False
    with run_lock(job_id) as locked:
        if not locked:
            return None
        now = timezone.now()
        claimed = (
            ImportJob.objects.filter(pk=job_id, state=ImportJob.State.PENDING)
            .exclude(mapping={})
            .update(state=ImportJob.State.RUNNING, started_at=now)
        )
        job = ImportJob.objects.select_related("uploaded_by").filter(pk=job_id).first()
        if job is None or job.state != ImportJob.State.RUNNING:
            return job
        if not claimed:
            logger.info("import %s: resuming after row %s", job_id, job.processed_rows)
        deadline = time.monotonic() + time_budget if time_budget else None
        try:
            carry_on = not _import_rows(job, deadline)
        except _JobGone:
            return None
        except SoftTimeLimitExceeded:
            # The batch in progress rolled back; the next task redoes it.
            carry_on = True
        except Exception as exc:
            logger.exception("import %s failed", job_id)
            _job_fail(job_id, exc)
        else:
            if not carry_on:
                ImportJob.objects.filter(pk=job_id, state=ImportJob.State.RUNNING).update(
                    state=ImportJob.State.DONE, finished_at=timezone.now()
                )
    # Queued only once the lock is released, or the next task would find it
    # still held and return.
    if carry_on:
        _enqueue(job_id)
    return ImportJob.objects.defer("content").filter(pk=job_id).first()


def _job_fail(job_id: int, exc: Exception) -> None:
    processed = (
        ImportJob.objects.filter(pk=job_id).values_list("processed_rows", flat=True).first() or 0
    )
    ImportJob.objects.filter(pk=job_id, state=ImportJob.State.RUNNING).update(
        state=ImportJob.State.FAILED,
        finished_at=timezone.now(),
        error=_(
            "The import stopped after %(processed)s rows because of an unexpected error "
            "(%(error)s). The rows before it are saved; fix the file or ask your "
            "administrator, then import the remaining rows again."
        )
        % {"processed": processed, "error": f"{type(exc).__name__}: {exc}"[:500]},
    )


def _import_rows(job: ImportJob, deadline: float | None) -> bool:
    """Import from the first unprocessed row; True when the file is done."""
    table = read_csv(bytes(job.content))
    run = _Run(job)
    batch: list[LeadRow] = []
    for index, record in enumerate(table.records()):
        row = lead_row(table, record, job.mapping)
        if index < job.processed_rows:
            run.remember_processed(row)
            continue
        batch.append(row)
        if len(batch) == BATCH_ROWS:
            run.import_batch(batch, processed=index + 1)
            batch = []
            if deadline is not None and time.monotonic() > deadline:
                return index + 1 >= table.row_count
    if batch:
        run.import_batch(batch, processed=table.row_count)
    return True


class _Run:
    """One pass over a job's rows; keeps what later rows depend on."""

    def __init__(self, job: ImportJob) -> None:
        self.job = job
        self.skip_existing = job.on_existing == ImportJob.OnExisting.SKIP
        self.source_ref = f"import #{job.pk} {job.filename}"[:200]
        # With "skip", the first row of an address wins and later rows of the
        # same address are reported; {email: line}.
        self.first_line_of: dict[str, int] = {}
        self.rejected_lines = {entry["row"] for entry in job.rejected}

    def remember_processed(self, row: LeadRow) -> None:
        """Rebuild first_line_of from rows a previous run already imported."""
        if self.skip_existing and row.line not in self.rejected_lines:
            email = _email_or_blank(row)
            if email:
                self.first_line_of.setdefault(email, row.line)

    def import_batch(self, rows: list[LeadRow], *, processed: int) -> None:
        outcomes: Counter[str] = Counter()
        rejected: list[dict[str, object]] = []
        # Tags are added per batch, set-based (one INSERT per tag name), not
        # per lead: {tag name: [lead ids]}; the job's tags go to every lead.
        tagged: dict[str, list[int]] = {}
        with transaction.atomic():
            for row in rows:
                try:
                    lead_id, outcome = self._import_row(row)
                except _RowRejected as exc:
                    rejected.append({"row": row.line, "reason": exc.reason})
                    continue
                outcomes[outcome] += 1
                if outcome != "skipped":
                    for name in split_tag_names([*row.tags, *self.job.tags]):
                        tagged.setdefault(name, []).append(lead_id)
            for name, lead_ids in tagged.items():
                tags_add_bulk(
                    lead_ids=lead_ids,
                    names=[name],
                    actor_kind=ActorKind.IMPORT,
                    actor=self.job.uploaded_by,
                    source_ref=self.source_ref,
                )
            self._save_progress(processed, outcomes, rejected)

    def _import_row(self, row: LeadRow) -> tuple[int, str]:
        job = self.job
        if row.surplus:
            raise _RowRejected(surplus_reason(row.surplus))
        too_long = [name for name in row.tags if len(name) > MAX_TAG_LENGTH]
        if too_long:
            raise _RowRejected(
                rejection_reason(
                    ValidationError({TAGS: [_("A tag is at most 100 characters.")]}), job.mapping
                )
            )
        email = _email_or_blank(row) if self.skip_existing else ""
        if email and email in self.first_line_of:
            raise _RowRejected(repeated_email_reason(email, self.first_line_of[email]))
        try:
            # Its own savepoint: a row that fails rolls back alone, consent included.
            with transaction.atomic():
                lead, outcome = lead_upsert(
                    data=row.data,
                    actor_kind=ActorKind.IMPORT,
                    actor=job.uploaded_by,
                    on_existing=job.on_existing,
                )
                if job.consent_basis and outcome != "skipped":
                    consent_record(
                        lead=lead,
                        basis=job.consent_basis,
                        source_ref=self.source_ref,
                        text_shown=job.consent_text,
                        by=job.uploaded_by,
                    )
        except ValidationError as exc:
            raise _RowRejected(rejection_reason(exc, job.mapping)) from None
        except DatabaseError as exc:
            # A value the database refuses, or a clash with a concurrent write.
            logger.warning("import %s row %s: %s", job.pk, row.line, exc)
            raise _RowRejected(
                _("the row could not be saved (%(error)s).") % {"error": str(exc).strip()[:200]}
            ) from None
        if email:
            self.first_line_of[email] = row.line
        return lead.pk, outcome

    def _save_progress(
        self, processed: int, outcomes: Counter[str], rejected: list[dict[str, object]]
    ) -> None:
        # jsonb || appends in the database: the list of rejected rows is not
        # sent back and forth with every batch.
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {ImportJob._meta.db_table}
                SET processed_rows = %s,
                    created_count = created_count + %s,
                    updated_count = updated_count + %s,
                    skipped_count = skipped_count + %s,
                    rejected = rejected || %s::jsonb
                WHERE id = %s AND state = %s
                """,  # noqa: S608 - the table name is ours, every value a parameter
                [
                    processed,
                    outcomes["created"],
                    outcomes["updated"],
                    outcomes["skipped"],
                    json.dumps(rejected, ensure_ascii=False),
                    self.job.pk,
                    ImportJob.State.RUNNING,
                ],
            )
            if cursor.rowcount != 1:
                raise _JobGone
        self.job.processed_rows = processed


def _email_or_blank(row: LeadRow) -> str:
    try:
        return normalize_email(str(row.data.get("email", "")))
    except ValidationError:
        return ""
