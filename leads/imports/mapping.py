"""Which CSV column fills which lead field: suggestions from Japanese and
English header names, and the mapping remembered per set of headers."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.imports.files import normalize_header
from leads.models import CustomField, ImportMapping, Lead

IGNORE = ""
FULL_NAME = "full_name"
FULL_NAME_KANA = "full_name_kana"
COMPANY = "company"
OWNER = "owner"
TAGS = "tags"
CUSTOM_PREFIX = "custom."

#: Targets more than one column may feed; every other target takes one column.
MULTI_COLUMN_TARGETS = frozenset({TAGS})

#: Columns the rejected-rows download adds after the original ones. They are
#: left out of the header signature so a fixed file re-imports with the
#: mapping remembered for the original.
REJECTED_ROW_HEADER = gettext_lazy("Row in the original file")
REJECTED_REASON_HEADER = gettext_lazy("Reason it was not imported")

# Header spellings seen on Japanese business-card scanners (Sansan, Eight),
# Excel lists, SATORI/HubSpot/Marketo exports and Kizuki's own export.
# Keys are compared after _alias_key(), so case, width, spaces, "-", "_",
# "・" and required marks (*, ※) do not matter.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "email": (
        "email", "eメール", "eメールアドレス", "メールアドレス", "メール", "mail",
        "mailaddress", "emailaddress", "メアド", "電子メール", "電子メールアドレス",
        "pcメールアドレス",
    ),
    FULL_NAME: (
        "氏名", "名前", "お名前", "ご氏名", "フルネーム", "担当者名", "name", "fullname",
        "contactname",
    ),
    "last_name": ("姓", "苗字", "名字", "lastname", "surname", "familyname"),
    "first_name": ("名", "firstname", "givenname"),
    FULL_NAME_KANA: (
        "フリガナ", "ふりがな", "カナ", "よみがな", "氏名(カナ)", "氏名(フリガナ)",
        "氏名(ふりがな)", "氏名カナ", "氏名フリガナ", "お名前(フリガナ)", "お名前(カナ)",
        "名前(フリガナ)", "名前(カナ)", "namekana", "kana", "fullnamekana",
    ),
    "last_name_kana": (
        "セイ", "せい", "姓(カナ)", "姓(フリガナ)", "姓(ふりがな)", "姓カナ", "姓フリガナ",
        "姓ふりがな", "lastnamekana",
    ),
    "first_name_kana": (
        "メイ", "めい", "名(カナ)", "名(フリガナ)", "名(ふりがな)", "名カナ", "名フリガナ",
        "名ふりがな", "firstnamekana",
    ),
    COMPANY: (
        "会社名", "会社", "企業名", "社名", "法人名", "組織名", "勤務先", "所属会社",
        "company", "companyname", "organization", "account", "accountname",
    ),
    "department": ("部署", "部署名", "所属", "所属部署", "部門", "department", "dept", "division"),
    "title": ("役職", "役職名", "肩書", "肩書き", "title", "jobtitle", "position"),
    "phone": (
        "電話番号", "電話", "tel", "telephone", "phone", "phonenumber", "携帯電話",
        "携帯電話番号", "携帯", "mobile", "直通電話", "会社電話番号", "代表電話",
    ),
    "industry": ("業種", "業界", "industry"),
    "employee_count": (
        "従業員数", "社員数", "従業員", "従業員規模", "employees", "employeecount",
        "numberofemployees",
    ),
    "capital": ("資本金", "capital"),
    "prefecture": ("都道府県", "県", "prefecture", "state"),
    "address": ("住所", "所在地", "会社住所", "住所1", "address", "address1", "street"),
    "stage": ("ステージ", "フェーズ", "stage", "lifecyclestage"),
    OWNER: ("担当者", "担当", "営業担当", "担当営業", "リード所有者", "owner"),
    "is_competitor": ("競合", "競合フラグ", "competitor", "iscompetitor"),
    "is_nurture_target": ("ナーチャリング対象", "nurturetarget", "isnurturetarget"),
    "first_touch_source": (
        "流入元", "初回流入元", "リードソース", "獲得経路", "firsttouchsource", "leadsource",
        "source",
    ),
    "last_touch_source": ("最終流入元", "lasttouchsource"),
    TAGS: ("タグ", "tags", "tag", "ラベル"),
}  # fmt: skip

_ALIAS_NOISE = re.compile(r"[\s\-_・.:：*＊※'\"]+")
_BRACKETED = re.compile(r"\(.*?\)|\[.*?\]|【.*?】|<.*?>|「.*?」")


def _alias_key(header: str) -> str:
    return _ALIAS_NOISE.sub("", unicodedata.normalize("NFKC", header).lower())


@cache
def _alias_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for target, aliases in HEADER_ALIASES.items():
        for alias in (target, *aliases):
            index.setdefault(_alias_key(alias), target)
    return index


def import_targets(custom_fields: dict[str, CustomField]) -> list[tuple[str, str]]:
    """(value, label) of every field a column can fill, for the mapping page."""

    def label(name: str) -> str:
        return str(Lead._meta.get_field(name).verbose_name)

    builtin = (
        "department", "title", "phone", "industry", "employee_count", "capital", "prefecture",
        "address", "stage", "owner", "is_competitor", "is_nurture_target",
        "first_touch_source", "last_touch_source",
    )  # fmt: skip
    targets = [
        (IGNORE, _("(do not import)")),
        ("email", label("email")),
        (FULL_NAME, _("full name (氏名): split into last and first name at a space")),
        ("last_name", label("last_name")),
        ("first_name", label("first_name")),
        (FULL_NAME_KANA, _("full name kana (フリガナ): split at a space")),
        ("last_name_kana", label("last_name_kana")),
        ("first_name_kana", label("first_name_kana")),
        (COMPANY, label("company_name")),
        *((name, label(name)) for name in builtin),
        (TAGS, _("tags (separated by ; or 、)")),
    ]
    targets += [
        (f"{CUSTOM_PREFIX}{key}", _("custom field: %(label)s") % {"label": field.label})
        for key, field in custom_fields.items()
    ]
    return targets


def suggest_target(header: str, custom_fields: dict[str, CustomField]) -> str:
    """The field a header most likely names, or IGNORE."""
    plain = unicodedata.normalize("NFKC", header).strip()
    if plain.lower().startswith(CUSTOM_PREFIX):
        custom_key = plain[len(CUSTOM_PREFIX) :].strip()
        if custom_key in custom_fields:
            return f"{CUSTOM_PREFIX}{custom_key}"
    key = _alias_key(header)
    for custom_key, field in custom_fields.items():
        if key in (_alias_key(field.label), _alias_key(custom_key)):
            return f"{CUSTOM_PREFIX}{custom_key}"
    index = _alias_index()
    if key in index:
        return index[key]
    # "会社名（必須）", "電話番号[代表]": try again without the bracketed note.
    return index.get(_alias_key(_BRACKETED.sub("", plain)), IGNORE)


def suggest_mapping(headers: list[str], custom_fields: dict[str, CustomField]) -> dict[str, str]:
    """{header: target}, each single-column target given to its first column only."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for header in headers:
        target = suggest_target(header, custom_fields)
        if target in used and target not in MULTI_COLUMN_TARGETS:
            target = IGNORE
        mapping[header] = target
        if target:
            used.add(target)
    return mapping


def check_mapping(
    headers: list[str], mapping: dict[str, str], custom_fields: dict[str, CustomField]
) -> dict[str, str]:
    """Validate a mapping chosen on the mapping page; return {header: target}
    for every header (unmapped ones IGNORE) or raise ValidationError."""
    valid = {value for value, _label in import_targets(custom_fields)}
    cleaned = {header: mapping.get(header) or IGNORE for header in headers}
    errors: list[str] = []
    for header, target in cleaned.items():
        if target not in valid:
            errors.append(
                _("“%(header)s”: “%(target)s” is not a field you can import into.")
                % {"header": header, "target": target}
            )
    columns: dict[str, list[str]] = {}
    for header, target in cleaned.items():
        if target:
            columns.setdefault(target, []).append(header)
    if "email" not in columns:
        errors.append(_("Choose the column that holds the email address: leads are matched by it."))
    labels = dict(import_targets(custom_fields))
    for target, names in columns.items():
        if len(names) > 1 and target not in MULTI_COLUMN_TARGETS:
            errors.append(
                _("“%(field)s” is chosen for more than one column (%(columns)s); choose one.")
                % {"field": labels.get(target, target), "columns": "、".join(names)}
            )
    if errors:
        raise ValidationError(errors)
    return cleaned


@cache
def _rejected_download_headers() -> frozenset[str]:
    names = set()
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            names.add(normalize_header(str(REJECTED_ROW_HEADER)))
            names.add(normalize_header(str(REJECTED_REASON_HEADER)))
    return frozenset(names)


def header_signature(headers: list[str]) -> str:
    """sha256 of the sorted headers: the same columns in another order are the
    same list, and the columns our rejected-rows download adds do not count."""
    own = _rejected_download_headers()
    kept = sorted(h for h in headers if h not in own)
    return hashlib.sha256(json.dumps(kept, ensure_ascii=False).encode("utf-8")).hexdigest()


def mapping_initial(
    headers: list[str], custom_fields: dict[str, CustomField]
) -> tuple[dict[str, str], bool]:
    """The mapping to offer: (mapping, remembered?). A remembered mapping wins;
    columns it does not cover, or whose field no longer exists, get suggestions."""
    suggested = suggest_mapping(headers, custom_fields)
    remembered = ImportMapping.objects.filter(header_signature=header_signature(headers)).first()
    if remembered is None:
        return suggested, False
    valid = {value for value, _label in import_targets(custom_fields)}
    mapping = {
        header: remembered.mapping[header]
        if remembered.mapping.get(header, None) in valid
        else suggested[header]
        for header in headers
    }
    return mapping, True


def mapping_remember(*, headers: list[str], mapping: dict[str, str]) -> ImportMapping:
    """Store the mapping used for this set of headers, replacing an older one."""
    signature = header_signature(headers)
    remembered, _created = ImportMapping.objects.update_or_create(
        header_signature=signature,
        defaults={"headers": headers, "mapping": mapping},
    )
    return remembered
