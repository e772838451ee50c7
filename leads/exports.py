"""Leads to CSV for Excel: UTF-8 with BOM (so Excel in Japan opens it as
UTF-8, not Shift_JIS), CRLF line ends, one row per lead.

The header row is Japanese by default. The column names are a file format,
not interface text: they are exactly the names the CSV import recognises, so
an exported list can be edited in Excel and imported back without mapping
any column, whatever language the exporting user reads. ``header_language
="en"`` gives the field names instead (email, last_name, …), which the import
recognises too.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.contrib import admin
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef, QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone, translation
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy

from leads.custom_fields import active_fields
from leads.imports.files import excel_safe
from leads.models import Lead, LeadTag

#: Leads fetched per round trip of the server-side cursor. Each chunk is a
#: few MB of Lead objects at most; larger chunks save round trips but hold
#: more memory per concurrent download.
EXPORT_CHUNK_ROWS = 2_000

#: Characters gathered before a piece of the response is sent, so a large
#: export is not thousands of tiny writes.
STREAM_PIECE_CHARS = 64 * 1024

#: Joins the tags of a lead in one cell; the import splits on it.
TAG_SEPARATOR = ";"


@dataclass(frozen=True)
class ExportColumn:
    ja: str
    en: str
    value: Callable[[Lead], object]


def _local(value: datetime.datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _flag(value: bool) -> str:
    return "1" if value else "0"


LEAD_COLUMNS: tuple[ExportColumn, ...] = (
    ExportColumn("ID", "id", lambda lead: lead.pk),
    ExportColumn("メールアドレス", "email", lambda lead: lead.email),
    ExportColumn("姓", "last_name", lambda lead: lead.last_name),
    ExportColumn("名", "first_name", lambda lead: lead.first_name),
    ExportColumn("セイ", "last_name_kana", lambda lead: lead.last_name_kana),
    ExportColumn("メイ", "first_name_kana", lambda lead: lead.first_name_kana),
    ExportColumn(
        "会社名",
        "company",
        lambda lead: lead.company_name or (lead.company.name if lead.company else ""),
    ),
    ExportColumn("部署", "department", lambda lead: lead.department),
    ExportColumn("役職", "title", lambda lead: lead.title),
    ExportColumn("電話番号", "phone", lambda lead: lead.phone),
    ExportColumn("業種", "industry", lambda lead: lead.industry),
    ExportColumn("従業員数", "employee_count", lambda lead: lead.employee_count),
    ExportColumn("資本金", "capital", lambda lead: lead.capital),
    ExportColumn("都道府県", "prefecture", lambda lead: lead.get_prefecture_display()),
    ExportColumn("住所", "address", lambda lead: lead.address),
    ExportColumn("ステージ", "stage", lambda lead: lead.get_stage_display()),
    ExportColumn("担当者", "owner", lambda lead: lead.owner.get_username() if lead.owner else ""),
    ExportColumn("スコア", "score", lambda lead: lead.score),
    ExportColumn("ランク", "rank", lambda lead: lead.rank),
    ExportColumn("タグ", "tags", lambda lead: TAG_SEPARATOR.join(lead.export_tag_names or [])),
    ExportColumn("競合", "is_competitor", lambda lead: _flag(lead.is_competitor)),
    ExportColumn(
        "ナーチャリング対象", "is_nurture_target", lambda lead: _flag(lead.is_nurture_target)
    ),
    ExportColumn("初回流入元", "first_touch_source", lambda lead: lead.first_touch_source),
    ExportColumn("最終流入元", "last_touch_source", lambda lead: lead.last_touch_source),
    ExportColumn("最終活動日時", "last_activity_at", lambda lead: _local(lead.last_activity_at)),
    ExportColumn("作成日時", "created_at", lambda lead: _local(lead.created_at)),
)


class _Echo:
    """A file whose write returns what it was given: csv.writer formats a row
    and hands back the text instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _flag(value)
    if isinstance(value, list):
        return TAG_SEPARATOR.join(str(v) for v in value)
    return excel_safe(str(value))


def export_queryset(queryset: QuerySet[Lead]) -> QuerySet[Lead]:
    """The leads of ``queryset`` (any filter, segment or slice; each lead once)
    with company, owner and tag names fetched in the same query: no N+1."""
    tag_names = (
        LeadTag.objects.filter(lead=OuterRef("pk")).order_by("tag__name").values("tag__name")
    )
    return (
        Lead.objects.filter(pk__in=queryset.values("pk"))
        .select_related("company", "owner")
        .annotate(export_tag_names=ArraySubquery(tag_names))
        .order_by("pk")
    )


def lead_csv_lines(queryset: QuerySet[Lead], *, header_language: str = "ja") -> Iterator[str]:
    """The CSV text in pieces: BOM and header first, then the leads."""
    custom_fields = list(active_fields().values())
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    header = [column.ja if header_language == "ja" else column.en for column in LEAD_COLUMNS]
    header += [
        field.label if header_language == "ja" else f"custom.{field.key}" for field in custom_fields
    ]
    piece = ["\ufeff", writer.writerow(header)]
    size = 0
    for lead in export_queryset(queryset).iterator(chunk_size=EXPORT_CHUNK_ROWS):
        custom = lead.custom or {}
        line = writer.writerow(
            [_cell(column.value(lead)) for column in LEAD_COLUMNS]
            + [_cell(custom.get(field.key)) for field in custom_fields]
        )
        piece.append(line)
        size += len(line)
        if size >= STREAM_PIECE_CHARS:
            yield "".join(piece)
            piece, size = [], 0
    yield "".join(piece)


def _in_language(lines: Iterator[str], language: str | None) -> Iterator[str]:
    # A streaming body is produced after the view returns; keep the language
    # of the request for the stage and prefecture labels.
    with translation.override(language):
        yield from lines


def export_filename(stem: str) -> str:
    """ "<stem>-YYYYMMDD.csv" in local time."""
    return f"{stem}-{timezone.localdate():%Y%m%d}.csv"


def export_leads_csv(
    queryset: QuerySet[Lead], filename: str, *, header_language: str = "ja"
) -> StreamingHttpResponse:
    """Stream ``queryset`` as a CSV download named ``filename`` (any text; a
    Japanese name is sent RFC 6266 style). Use it from any admin view or action."""
    body = _in_language(
        lead_csv_lines(queryset, header_language=header_language), translation.get_language()
    )
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "no-store"
    return response


@admin.action(description=gettext_lazy("Export selected leads to CSV"), permissions=["view"])
def export_selected_leads(modeladmin, request, queryset: QuerySet[Lead]) -> StreamingHttpResponse:
    """An admin action for LeadAdmin.actions."""
    return export_leads_csv(queryset, export_filename("leads"))
