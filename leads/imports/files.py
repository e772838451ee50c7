"""Reading an uploaded lead list: encoding, delimiter, header row and records.

Excel in Japan saves "CSV (コンマ区切り)" as CP932 (Microsoft's Shift_JIS),
"CSV UTF-8" with a byte-order mark, and "Unicode テキスト" as tab-separated
UTF-16; other tools write plain UTF-8. All of them are read here, and
anything else is refused with a message that says how to save a CSV.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

#: The largest file accepted. The file is kept in the ImportJob row (so any
#: worker can read it) and decoded in memory twice, once to count rows at
#: upload and once to import, so this bounds memory per import at a few
#: times this size; 30 MB holds about 200,000 business-card rows.
MAX_UPLOAD_BYTES = 30 * 1024 * 1024

#: Title lines above the header row that are skipped (see _header_record).
TITLE_LINES_MAX = 5

#: Delimiters Excel and other tools write, in order of preference on a tie.
DELIMITERS = (",", "\t", ";")

#: How much of the text is inspected to tell a CSV from a binary file.
BINARY_SNIFF_CHARS = 64 * 1024
#: Control or private-use characters above this share mean "not text": a CSV
#: has none, but a stray one in a cell should not refuse a whole file.
BINARY_CHAR_SHARE = 0.005

_SAVE_AS_CSV = gettext_lazy(
    "In Excel choose File → Save As and pick “CSV UTF-8 (comma delimited)” or "
    "“CSV (comma delimited)”, then upload that file."
)
_WHITESPACE = re.compile(r"\s+")

# Excel runs a cell that starts with one of these as a formula (CSV
# injection); our downloads put an apostrophe before such a value, as Excel
# itself does, and the import takes it off again. Numbers and phone numbers
# such as -5 or +81-3-1234-5678 are left alone: Excel shows them as typed.
FORMULA_STARTS = ("=", "+", "-", "@")
_NUMBER_LIKE = re.compile(r"[+-]?[\d\s().,-]+")


class ImportFileError(ValidationError):
    """The upload cannot be read as a CSV; the message says what to do."""


@dataclass(frozen=True)
class CsvRecord:
    """One data row. ``line`` is the 1-based line of the file it starts on
    (the header is line 1), the number a marketer sees in Excel or an editor."""

    line: int
    cells: list[str]


@dataclass(frozen=True)
class CsvTable:
    text: str
    encoding: str
    delimiter: str
    headers: list[str]
    row_count: int
    header_line: int = 1

    def records(self) -> Iterator[CsvRecord]:
        """The data rows after the header, blank rows left out."""
        for record in _iter_records(self.text, self.delimiter):
            if record.line > self.header_line:
                yield record

    def values(self, record: CsvRecord) -> dict[str, str]:
        """{header: cell}; a short row reads as empty cells."""
        cells = record.cells
        return {
            header: (cells[index] if index < len(cells) else "")
            for index, header in enumerate(self.headers)
        }

    def surplus(self, record: CsvRecord) -> list[str]:
        """Non-empty cells beyond the last header: usually an unquoted comma
        inside a value (1,000) that shifted every following column."""
        return [cell for cell in record.cells[len(self.headers) :] if cell.strip()]


def excel_safe(value: str) -> str:
    """A cell value Excel shows as text rather than runs as a formula."""
    if value.startswith(FORMULA_STARTS) and not _NUMBER_LIKE.fullmatch(value):
        return "'" + value
    return value


def excel_unescape(value: str) -> str:
    """Undo ``excel_safe`` on a cell read back from one of our downloads."""
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_STARTS:
        return value[1:]
    return value


def decode_upload(content: bytes) -> tuple[str, str]:
    """Return (text, encoding name) or raise ImportFileError.

    Tries UTF-8 strictly (with or without BOM) before CP932 because valid
    CP932 Japanese is almost never valid UTF-8, while the reverse guess would
    turn UTF-8 files into mojibake (文字化け) without any error.
    """
    if not content:
        raise ImportFileError(_("The file is empty."), code="empty")
    if content.startswith(b"PK\x03\x04") or content.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            _("This is an Excel workbook, not a CSV file. %(how)s") % {"how": _SAVE_AS_CSV},
            code="workbook",
        )
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _check_text(content.decode("utf-16")), "utf-16"
        except UnicodeDecodeError:
            pass
    if b"\x00" in content:
        raise _binary_error()
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-8-sig" and not content.startswith(b"\xef\xbb\xbf"):
            encoding = "utf-8"
        return _check_text(text), encoding
    raise ImportFileError(
        _(
            "The file is neither UTF-8 nor Shift_JIS (CP932) text, so its characters "
            "cannot be read. %(how)s"
        )
        % {"how": _SAVE_AS_CSV},
        code="encoding",
    )


def _binary_error() -> ImportFileError:
    return ImportFileError(
        _("This does not look like a CSV file. %(how)s") % {"how": _SAVE_AS_CSV}, code="binary"
    )


def _check_text(text: str) -> str:
    # Old DOS tools end files with Ctrl-Z; it is not data.
    text = text.rstrip("\x1a")
    sample = text[:BINARY_SNIFF_CHARS]
    odd = sum(
        1
        for char in sample
        if char not in "\t\r\n" and unicodedata.category(char) in ("Cc", "Co", "Cs")
    )
    if sample and odd / len(sample) > BINARY_CHAR_SHARE:
        raise _binary_error()
    return text


def sniff_delimiter(text: str) -> str:
    """Comma, tab or semicolon: whichever the first lines have most of on one
    line (the header, even below a title line).

    ``csv.Sniffer`` guesses wrongly on Japanese text with few columns, and
    the header line is always plain enough to count on.
    """
    lines = text.lstrip("\ufeff").split("\n", TITLE_LINES_MAX + 1)[: TITLE_LINES_MAX + 1]
    counts = {d: max(line.count(d) for line in lines) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def normalize_header(raw: str) -> str:
    """Fold full-width letters and digits (ＴＥＬ → TEL) and stray spaces, so the
    same Excel sheet exported twice gives the same headers."""
    value = unicodedata.normalize("NFKC", raw.replace("\ufeff", ""))
    return _WHITESPACE.sub(" ", value).strip()


def _unique_headers(raw_headers: list[str]) -> list[str]:
    headers: list[str] = []
    for index, raw in enumerate(raw_headers, start=1):
        header = normalize_header(raw) or _("Column %(number)s") % {"number": index}
        candidate, copy = header, 2
        while candidate in headers:
            candidate = f"{header} ({copy})"
            copy += 1
        headers.append(candidate)
    return headers


def _iter_records(text: str, delimiter: str) -> Iterator[CsvRecord]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFileError(
                _("Line %(line)s cannot be read as CSV (%(error)s).")
                % {"line": line, "error": exc},
                code="csv",
            ) from None
        if any(cell.strip() for cell in cells):
            yield CsvRecord(line=line, cells=cells)


def read_csv(content: bytes) -> CsvTable:
    """Decode and parse an upload, counting its data rows; raise ImportFileError
    (with a message for the marketer) if it is not a usable CSV."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise ImportFileError(
            _("The file is larger than %(size)s MB. Split it into smaller files.")
            % {"size": MAX_UPLOAD_BYTES // (1024 * 1024)},
            code="too_large",
        )
    text, encoding = decode_upload(content)
    delimiter = sniff_delimiter(text)
    records = _iter_records(text, delimiter)
    leading = list(islice(records, TITLE_LINES_MAX + 1))
    if not leading:
        raise ImportFileError(_("The file has no header row."), code="no_header")
    header = _header_record(leading)
    row_count = sum(1 for r in leading if r.line > header.line) + sum(1 for _r in records)
    if not row_count:
        raise ImportFileError(_("The file has a header row but no data rows."), code="no_rows")
    return CsvTable(
        text=text,
        encoding=encoding,
        delimiter=delimiter,
        headers=_unique_headers(header.cells),
        row_count=row_count,
        header_line=header.line,
    )


def _filled(record: CsvRecord) -> int:
    return sum(1 for cell in record.cells if cell.strip())


def _header_record(leading: list[CsvRecord]) -> CsvRecord:
    """The header row: the first record, unless it is a title line above the
    table ("2026年春 展示会 名刺リスト") — one filled cell followed by a record
    with more — as Excel sheets made for printing often have."""
    index = 0
    while (
        index < len(leading) - 1
        and _filled(leading[index]) <= 1
        and _filled(leading[index + 1]) > _filled(leading[index])
    ):
        index += 1
    return leading[index]
