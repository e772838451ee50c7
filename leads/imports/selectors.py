"""Reads of a CSV import: the mapping page's preview, the progress bar's
status, and the rejected rows as a CSV to fix and import again."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.translation import gettext as _

from leads.custom_fields import active_fields
from leads.imports.files import excel_safe, read_csv
from leads.imports.mapping import (
    CUSTOM_PREFIX,
    FULL_NAME,
    FULL_NAME_KANA,
    IGNORE,
    REJECTED_REASON_HEADER,
    REJECTED_ROW_HEADER,
    TAGS,
    import_targets,
)
from leads.imports.rows import (
    LeadRow,
    lead_row,
    rejection_reason,
    repeated_email_reason,
    surplus_reason,
)
from leads.models import CustomField, ImportJob, Lead
from leads.services import check_lead_data

#: Rows shown on the mapping page before the import starts.
PREVIEW_ROWS = 10


@dataclass
class PreviewRow:
    line: int
    #: "create", "update", "skip" or "reject"
    outcome: str
    values: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass
class Preview:
    columns: list[str]
    rows: list[PreviewRow]


def _preview_keys(mapping: dict[str, str]) -> list[str]:
    """The lead fields a mapping fills, in the order of the target list."""
    chosen = set(mapping.values()) - {IGNORE}
    expanded = set(chosen)
    if FULL_NAME in chosen:
        expanded |= {"last_name", "first_name"}
    if FULL_NAME_KANA in chosen:
        expanded |= {"last_name_kana", "first_name_kana"}
    expanded -= {FULL_NAME, FULL_NAME_KANA}
    order = [value for value, _label in import_targets({})] + sorted(
        t for t in expanded if t.startswith(CUSTOM_PREFIX)
    )
    return [key for key in order if key in expanded]


def _display(row: LeadRow, key: str) -> str:
    if key == TAGS:
        return "; ".join(row.tags)
    if key.startswith(CUSTOM_PREFIX):
        value = (row.data.get("custom") or {}).get(key[len(CUSTOM_PREFIX) :], "")
    else:
        value = row.data.get(key, "")
    if value is True:
        return "✓"
    if value is False:
        return "—"
    return str(value)


def _missing_required(custom: dict, fields: dict[str, CustomField]) -> dict[str, list[str]]:
    return {
        f"{CUSTOM_PREFIX}{key}": [_("%(label)s is required.") % {"label": field_.label}]
        for key, field_ in fields.items()
        if field_.required and custom.get(key) in (None, "", [])
    }


def import_preview(
    *, job: ImportJob, mapping: dict[str, str], limit: int = PREVIEW_ROWS
) -> Preview:
    """The first rows as the import would store them, each with what would
    happen to it (new lead, update, skip) or why it would be rejected.

    Validation only: nothing is written.
    """
    fields = active_fields()
    table = read_csv(bytes(job.content))
    labels = dict(import_targets(fields))
    labels.update(
        {
            "last_name": str(Lead._meta.get_field("last_name").verbose_name),
            "first_name": str(Lead._meta.get_field("first_name").verbose_name),
        }
    )
    keys = _preview_keys(mapping)
    rows: list[PreviewRow] = []
    first_line_of: dict[str, int] = {}
    for record in table.records():
        if len(rows) >= limit:
            break
        row = lead_row(table, record, mapping)
        preview = PreviewRow(line=row.line, outcome="reject")
        preview.values = [_display(row, key) for key in keys]
        rows.append(preview)
        if row.surplus:
            preview.reason = surplus_reason(row.surplus)
            continue
        try:
            cleaned = check_lead_data(row.data)
        except ValidationError as exc:
            preview.reason = rejection_reason(exc, mapping)
            continue
        email = cleaned["email"]
        skip_existing = job.on_existing == ImportJob.OnExisting.SKIP
        if skip_existing and email in first_line_of:
            preview.reason = repeated_email_reason(email, first_line_of[email])
            continue
        exists = email in first_line_of or Lead.objects.filter(email__lower=email).exists()
        if not exists:
            missing = _missing_required(cleaned.get("custom") or {}, fields)
            if missing:
                preview.reason = rejection_reason(ValidationError(missing), mapping)
                continue
            preview.outcome = "create"
        elif skip_existing:
            preview.outcome = "skip"
        else:
            preview.outcome = "update"
        first_line_of.setdefault(email, row.line)
    return Preview(columns=[labels.get(key, key) for key in keys], rows=rows)


def column_examples(job: ImportJob, *, rows: int = PREVIEW_ROWS) -> dict[str, str]:
    """{header: the first non-empty value in the first rows}, shown next to
    each column on the mapping page."""
    table = read_csv(bytes(job.content))
    examples: dict[str, str] = {}
    for index, record in enumerate(table.records()):
        if index >= rows or len(examples) == len(table.headers):
            break
        for header, value in table.values(record).items():
            if value.strip():
                examples.setdefault(header, value.strip()[:100])
    return examples


def import_job_progress(job: ImportJob) -> dict[str, object]:
    """What the progress bar polls: a JSON-ready dict."""
    done = job.state == ImportJob.State.DONE
    percent = (
        100 if done else int(100 * job.processed_rows / job.total_rows) if job.total_rows else 0
    )
    return {
        "id": job.pk,
        "state": job.state,
        "state_label": str(job.get_state_display()),
        "total_rows": job.total_rows,
        "processed_rows": job.processed_rows,
        "percent": min(percent, 100),
        "created": job.created_count,
        "updated": job.updated_count,
        "skipped": job.skipped_count,
        "rejected": len(job.rejected),
        "finished": job.state in (ImportJob.State.DONE, ImportJob.State.FAILED),
        "error": job.error,
    }


def import_job_is_stalled(job: ImportJob) -> bool:
    """Running, but no process holds its run lock: the run died (worker killed,
    web process restarted) and can be resumed.

    Reads pg_locks rather than trying the lock, so looking never takes the
    lock from under a task that is just starting to carry the job on.
    """
    from leads.imports.services import run_lock_key

    if job.state != ImportJob.State.RUNNING:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT NOT EXISTS (
                SELECT 1 FROM pg_locks
                WHERE locktype = 'advisory' AND granted
                  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND classid = %s AND objid = %s AND objsubid = 2
            )
            """,
            run_lock_key(job.pk),
        )
        return bool(cursor.fetchone()[0])


def import_job_is_waiting(job: ImportJob) -> bool:
    """Started (mapped) but no worker has picked it up yet."""
    return job.state == ImportJob.State.PENDING and bool(job.mapping)


def rejected_rows_csv(job: ImportJob) -> str:
    """The rejected rows as they were in the file, with the row number and the
    reason added as the last two columns, UTF-8 with BOM and CRLF for Excel.

    The marketer fixes the rows and imports this file again; the two added
    columns are ignored and the mapping remembered for the original applies.
    """
    reasons = {entry["row"]: entry["reason"] for entry in job.rejected}
    table = read_csv(bytes(job.content))
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*table.headers, str(REJECTED_ROW_HEADER), str(REJECTED_REASON_HEADER)])
    width = len(table.headers)
    for record in table.records():
        if record.line in reasons:
            cells = (record.cells + [""] * width)[:width]
            writer.writerow(
                [excel_safe(c) for c in cells] + [record.line, excel_safe(reasons[record.line])]
            )
    return out.getvalue()
