"""From a CSV row to the payload of ``lead_upsert``.

Excel lists write numbers, names and yes/no in many ways (１，０００名,
1億2000万円, 山田　太郎, ○); they are folded here into what the lead fields
take. Anything not understood is passed on unchanged so the lead services
reject it with their own message, which names the value.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.utils import translation
from django.utils.translation import gettext as _

from leads.imports.files import CsvRecord, CsvTable, excel_unescape
from leads.imports.mapping import COMPANY, CUSTOM_PREFIX, FULL_NAME, FULL_NAME_KANA, TAGS
from leads.models import Lead, Stage
from leads.prefectures import PREFECTURE_CHOICES

_NAME_SPLIT = re.compile(r"[\s\u3000]+")
_TAG_SPLIT = re.compile(r"[;；、\n]")
_LATIN_NAME = re.compile(r"[A-Za-z\u00c0-\u024f.'\- \u3000]+")
# Hyphen look-alikes typed in Japanese phone numbers: ー (long vowel), ‐, −, ―, –, —.
_PHONE_DASHES = str.maketrans(dict.fromkeys("ー‐−―–—ｰ", "-"))
_COUNT = re.compile(r"約?(\d+)(?:名|人|社員)?(?:以上|程度|くらい)?")
_YEN = re.compile(
    r"[¥\\]?(?:(\d+(?:\.\d+)?)兆)?(?:(\d+(?:\.\d+)?)億)?(?:(\d+(?:\.\d+)?)万)?(\d+)?(?:円)?"
)
_TRUE_WORDS = frozenset(
    {"1", "true", "yes", "y", "t", "on", "はい", "有", "あり", "○", "◯", "〇", "●", "対象",
     "✓", "✔"}
)  # fmt: skip
_FALSE_WORDS = frozenset(
    {"0", "false", "no", "n", "f", "off", "いいえ", "無", "なし", "×", "✕", "-", "対象外"}
)  # fmt: skip


@dataclass
class LeadRow:
    """A row ready for ``lead_upsert``: ``data`` is its payload, ``tags`` the
    tags from the row's tag columns."""

    line: int
    data: dict[str, object] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    surplus: list[str] = field(default_factory=list)


def lead_row(table: CsvTable, record: CsvRecord, mapping: dict[str, str]) -> LeadRow:
    """Convert one record with {header: target}; empty cells are left out so
    an update never blanks a stored value and a new lead gets the defaults."""
    row = LeadRow(line=record.line, surplus=table.surplus(record))
    values = table.values(record)
    names: dict[str, list[str]] = {}
    for header, target in mapping.items():
        if not target:
            continue
        raw = excel_unescape(values.get(header, "")).strip()
        if not raw:
            continue
        if target == TAGS:
            row.tags += [t.strip() for t in _TAG_SPLIT.split(raw) if t.strip()]
        elif target.startswith(CUSTOM_PREFIX):
            row.data.setdefault("custom", {})[target[len(CUSTOM_PREFIX) :]] = raw
        elif target == FULL_NAME_KANA:
            names[target] = _NAME_SPLIT.split(_nfkc(raw), maxsplit=1)
        elif target == FULL_NAME:
            names[target] = split_full_name(raw)
        else:
            row.data[target] = _convert(target, raw)
    for source, (last, first) in (
        (FULL_NAME, ("last_name", "first_name")),
        (FULL_NAME_KANA, ("last_name_kana", "first_name_kana")),
    ):
        parts = names.get(source)
        if parts:
            row.data.setdefault(last, parts[0])
            if len(parts) > 1:
                row.data.setdefault(first, parts[1])
    if "prefecture" not in row.data and "address" in row.data:
        prefecture = prefecture_in_address(str(row.data["address"]))
        if prefecture:
            row.data["prefecture"] = prefecture
    return row


def split_full_name(full_name: str) -> list[str]:
    """[last, first] from "山田　太郎" or "山田 太郎"; a name in Latin letters
    ("Taro Yamada", "Jane M. Smith") is in Western order, first name first."""
    parts = _NAME_SPLIT.split(full_name.strip())
    if len(parts) > 1 and _LATIN_NAME.fullmatch(full_name.strip()):
        return [parts[-1], " ".join(parts[:-1])]
    return _NAME_SPLIT.split(full_name.strip(), maxsplit=1)


def _nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _convert(target: str, raw: str) -> object:
    if target in ("last_name_kana", "first_name_kana", "prefecture"):
        # Half-width katakana (ｻﾄｳ) from old systems becomes full-width (サトウ).
        return _nfkc(raw)
    if target == "phone":
        return _nfkc(raw.translate(_PHONE_DASHES)).translate(_PHONE_DASHES)
    if target == "employee_count":
        return parse_count(raw)
    if target == "capital":
        return parse_yen(raw)
    if target == "stage":
        return _stage_index().get(_nfkc(raw).lower(), raw)
    if target in ("is_competitor", "is_nurture_target"):
        return parse_flag(raw)
    return raw


def _digits_only(raw: str) -> str:
    return re.sub(r"[\s,]", "", _nfkc(raw))


def parse_count(raw: str) -> object:
    """ "１，２００名", "約300人" → 1200, 300; anything else unchanged."""
    match = _COUNT.fullmatch(_digits_only(raw))
    return int(match.group(1)) if match else raw


def parse_yen(raw: str) -> object:
    """ "1億2,000万円", "5000万", "¥10,000,000" → yen as an int; else unchanged."""
    text = _digits_only(raw)
    match = _YEN.fullmatch(text)
    if not text or not match or not any(match.groups()):
        return raw
    cho, oku, man, rest = (Decimal(g) if g else Decimal(0) for g in match.groups())
    return int(cho * 10**12 + oku * 10**8 + man * 10**4 + rest)


def parse_flag(raw: str) -> object:
    word = _nfkc(raw).lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    return raw


def prefecture_in_address(address: str) -> str:
    """The prefecture an address starts with (東京都千代田区… → 東京都), or ""."""
    text = _nfkc(address)
    for _code, name in PREFECTURE_CHOICES:
        if text.startswith(name):
            return name
    return ""


@cache
def _stage_index() -> dict[str, str]:
    """Stage by code, by label in every language, and by either half of a
    label such as "Interest (興味)", so 興味, Interest and interest all work."""
    index: dict[str, str] = {}
    for value, label in Stage.choices:
        index[value] = value
        for code, _name in settings.LANGUAGES:
            with translation.override(code):
                text = str(label)
            index[text.lower()] = value
            match = re.fullmatch(r"(.*?)\s*\((.*?)\)", text)
            if match:
                index.setdefault(match.group(1).strip().lower(), value)
                index.setdefault(match.group(2).strip().lower(), value)
    return index


def rejection_reason(error: ValidationError, mapping: dict[str, str]) -> str:
    """ "<column>: <message>" for each problem, naming the CSV column the
    marketer sees rather than the internal field."""
    if not hasattr(error, "error_dict"):
        return " / ".join(error.messages)
    header_of: dict[str, str] = {}
    for header, target in mapping.items():
        if target:
            header_of.setdefault(target, header)
    via = {
        "last_name": FULL_NAME,
        "first_name": FULL_NAME,
        "last_name_kana": FULL_NAME_KANA,
        "first_name_kana": FULL_NAME_KANA,
        "company_name": COMPANY,
    }
    parts = []
    for key, messages in error.message_dict.items():
        text = " ".join(messages)
        if key == "__all__":
            parts.append(text)
            continue
        name = header_of.get(key) or header_of.get(via.get(key, "")) or _field_label(key)
        parts.append(f"{name}: {text}")
    return " / ".join(parts)


def _field_label(key: str) -> str:
    try:
        return str(Lead._meta.get_field(key).verbose_name)
    except FieldDoesNotExist:
        return key


def surplus_reason(surplus: list[str]) -> str:
    return _(
        "the row has %(count)s more values than the header has columns (%(values)s); "
        "a value with a comma needs quotes."
    ) % {"count": len(surplus), "values": ", ".join(surplus)[:200]}


def repeated_email_reason(email: str, first_line: int) -> str:
    return _(
        "email: %(email)s is also on row %(row)s of this file; with “skip existing "
        "leads” only the first is imported."
    ) % {"email": email, "row": first_line}
