"""The ``attribute`` block: a condition on a lead field or a custom field.

``{"kind": "attribute", "field": "employee_count", "op": ">=", "value": 100}``
``{"kind": "attribute", "field": "custom.interest", "op": "contains_any", "value": ["MA"]}``

Text "=" / "!=" / "in" compare exactly (emails case-insensitively, through
the ``LOWER(email)`` index); contains / startswith / endswith ignore case.
"!=" and "not_…" operators are exactly NOT of their positive operator, so
they include leads without a value.

Field names are whitelisted (the built-in ones below, or ``custom.<key>`` of
a defined custom field), so a field name never reaches SQL as text; values
are always parameters.

Custom values live in the JSONB column ``Lead.custom`` (GIN-indexed):
equality and "one of" are written as containment (``custom @> {"k": v}``)
which the GIN index answers; comparisons read the key (``custom -> 'k'``)
and compare JSON to JSON, so a badly typed stored value can never make the
query fail the way a cast would. Each custom condition is guarded by
``custom ? 'k'`` and the JSON type, which keeps it TRUE or FALSE (never
NULL) so that NOT negates it exactly.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import CharField, F, Func, JSONField, Q, Value
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Lower
from django.db.models.lookups import Exact, In
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.models import CustomField, Lead, Rank, Stage
from leads.prefectures import PREFECTURE_BY_NAME, PREFECTURE_CHOICES
from leads.segments import params as p
from leads.segments.registry import BlockKind, CompileContext, register_block

TEXT, NUMBER, DATETIME, DATE, BOOLEAN, CHOICE, MULTI = (
    "text", "number", "datetime", "date", "boolean", "choice", "multi_choice",
)  # fmt: skip

TYPE_LABELS = {
    TEXT: gettext_lazy("text"),
    NUMBER: gettext_lazy("a number"),
    DATETIME: gettext_lazy("a date"),
    DATE: gettext_lazy("a date"),
    BOOLEAN: gettext_lazy("yes or no"),
    CHOICE: gettext_lazy("a choice"),
    MULTI: gettext_lazy("a multiple choice"),
}

EMPTINESS = ("empty", "not_empty")
OPERATORS = {
    TEXT: ("=", "!=", "contains", "not_contains", "startswith", "endswith", "in", *EMPTINESS),
    NUMBER: ("=", "!=", ">", ">=", "<", "<=", "between", *EMPTINESS),
    DATETIME: ("before", "after", "between", "within_days", "not_within_days", *EMPTINESS),
    BOOLEAN: ("is",),
    CHOICE: ("=", "!=", "in", *EMPTINESS),
    MULTI: ("contains_any", "contains_all", *EMPTINESS),
}
OPERATORS[DATE] = OPERATORS[DATETIME]

PHRASES = {
    "=": gettext_lazy("%(field)s is “%(value)s”"),
    "!=": gettext_lazy("%(field)s is not “%(value)s”"),
    "contains": gettext_lazy("%(field)s contains “%(value)s”"),
    "not_contains": gettext_lazy("%(field)s does not contain “%(value)s”"),
    "startswith": gettext_lazy("%(field)s starts with “%(value)s”"),
    "endswith": gettext_lazy("%(field)s ends with “%(value)s”"),
    "in": gettext_lazy("%(field)s is one of %(value)s"),
    "empty": gettext_lazy("%(field)s is empty"),
    "not_empty": gettext_lazy("%(field)s is not empty"),
    ">": gettext_lazy("%(field)s > %(value)s"),
    ">=": gettext_lazy("%(field)s ≥ %(value)s"),
    "<": gettext_lazy("%(field)s < %(value)s"),
    "<=": gettext_lazy("%(field)s ≤ %(value)s"),
    "between": gettext_lazy("%(field)s from %(low)s to %(high)s"),
    "before": gettext_lazy("%(field)s before %(value)s"),
    "after": gettext_lazy("%(field)s after %(value)s"),
    "within_days": gettext_lazy("%(field)s in the last %(value)s days"),
    "not_within_days": gettext_lazy("%(field)s not in the last %(value)s days (or empty)"),
    "is_true": gettext_lazy("%(field)s: yes"),
    "is_false": gettext_lazy("%(field)s: no"),
    "contains_any": gettext_lazy("%(field)s includes any of %(value)s"),
    "contains_all": gettext_lazy("%(field)s includes all of %(value)s"),
}

NUMBER_COMPARISONS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
TEXT_MATCHES = {
    "contains": "icontains",
    "not_contains": "icontains",
    "startswith": "istartswith",
    "endswith": "iendswith",
}


@dataclass(frozen=True)
class SearchField:
    """A field a block may name. ``custom_key`` is set for custom fields."""

    name: str
    label: str | Promise
    type: str
    nullable: bool = False
    choices: tuple[tuple[str, str | Promise], ...] = ()
    custom_key: str | None = None
    #: Other names a choice is known by (prefecture names without 都/府/県).
    aliases: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def operators(self) -> tuple[str, ...]:
        ops = OPERATORS[self.type]
        if not self.nullable and self.type in (NUMBER, DATETIME, CHOICE):
            # score, created_at, stage … always have a value: "empty" would be a trap
            ops = tuple(op for op in ops if op not in EMPTINESS)
        return ops


def _builtin(name: str, type_: str, **kwargs) -> SearchField:
    model_field = Lead._meta.get_field(name)
    return SearchField(name=name, label=model_field.verbose_name, type=type_, **kwargs)


TEXT_FIELDS = (
    "email", "last_name", "first_name", "last_name_kana", "first_name_kana", "company_name",
    "department", "title", "phone", "industry", "address", "first_touch_source",
    "last_touch_source",
)  # fmt: skip

BUILTIN_FIELDS: dict[str, SearchField] = {
    f.name: f
    for f in [
        *(_builtin(name, TEXT) for name in TEXT_FIELDS),
        _builtin("employee_count", NUMBER, nullable=True),
        _builtin("capital", NUMBER, nullable=True),
        _builtin("score", NUMBER),
        _builtin("created_at", DATETIME),
        _builtin("updated_at", DATETIME),
        _builtin("last_activity_at", DATETIME, nullable=True),
        _builtin("is_competitor", BOOLEAN),
        _builtin("is_nurture_target", BOOLEAN),
        _builtin("stage", CHOICE, choices=tuple(Stage.choices)),
        _builtin("rank", CHOICE, choices=tuple(Rank.choices)),
        _builtin(
            "prefecture",
            CHOICE,
            nullable=True,  # stored as "" when unknown
            choices=tuple(PREFECTURE_CHOICES),
            aliases=dict(PREFECTURE_BY_NAME),
        ),
    ]
}

CUSTOM_PREFIX = "custom."
CUSTOM_TYPES = {
    CustomField.Type.TEXT: TEXT,
    CustomField.Type.NUMBER: NUMBER,
    CustomField.Type.DATE: DATE,
    CustomField.Type.CHOICE: CHOICE,
    CustomField.Type.MULTI_CHOICE: MULTI,
}
#: The JSON type a custom value must have for a comparison to apply.
JSON_TYPES = {TEXT: "string", NUMBER: "number", DATE: "string", CHOICE: "string"}


def _custom_search_field(definition: CustomField) -> SearchField:
    choices = tuple((str(c), str(c)) for c in definition.choices)
    return SearchField(
        name=CUSTOM_PREFIX + definition.key,
        label=definition.label,
        type=CUSTOM_TYPES[definition.type],
        nullable=True,
        choices=choices,
        custom_key=definition.key,
    )


def custom_search_fields() -> dict[str, SearchField]:
    # Inactive fields stay searchable: their values are still stored on leads.
    return {
        CUSTOM_PREFIX + d.key: _custom_search_field(d)
        for d in CustomField.objects.all()
        if d.type in CUSTOM_TYPES
    }


def search_fields(context: CompileContext | None = None) -> dict[str, SearchField]:
    if context is None:
        return {**BUILTIN_FIELDS, **custom_search_fields()}
    return {**BUILTIN_FIELDS, **context.cached("custom_search_fields", custom_search_fields)}


def search_field(name: object, context: CompileContext | None = None) -> SearchField:
    name = str(name or "").strip()
    if not name:
        raise p.fail("field", _("Choose a field, such as industry or custom.<key>."))
    if name.startswith(CUSTOM_PREFIX):
        found = (custom_search_fields() if context is None else search_fields(context)).get(name)
        if found is None:
            raise p.fail(
                "field",
                _("There is no custom field “%(key)s”.") % {"key": name[len(CUSTOM_PREFIX) :]},
            )
        return found
    found = BUILTIN_FIELDS.get(name)
    if found is None:
        raise p.fail(
            "field",
            _(
                "“%(name)s” is not a lead field you can search. "
                "Choose one of: %(fields)s, or custom.<key>."
            )
            % {"name": name, "fields": ", ".join(BUILTIN_FIELDS)},
        )
    return found


# -- validation ------------------------------------------------------------------------


def _clean_choice(search: SearchField, value: object) -> str:
    text = p.clean_text(value)
    code = _choice_code(search, text)
    if code is None:
        raise p.fail(
            "value",
            _("“%(value)s” is not a choice of %(field)s. Choose one of: %(choices)s.")
            % {
                "value": value,
                "field": search.label,
                "choices": ", ".join(code for code, _label in search.choices),
            },
        )
    return code


def _choice_code(search: SearchField, text: str) -> str | None:
    """The stored code for a code or a label; built-in codes and labels are
    matched case-insensitively ("hot" is HOT), custom choices exactly."""
    if text in search.aliases:
        return search.aliases[text]
    for code, label in search.choices:
        if text == code or text == str(label):
            return code
    if search.custom_key is None:
        for code, label in search.choices:
            if text.lower() in (code.lower(), str(label).lower()):
                return code
    return None


def _clean_list(value: object, clean_one) -> list:
    items = value if isinstance(value, list | tuple) else [value]
    result: list = []
    for item in items:
        cleaned = clean_one(item)
        if cleaned not in result:
            result.append(cleaned)
    if not result:
        raise p.fail("value", _("Give at least one value."))
    return result


def _clean_value(search: SearchField, op: str, value: object) -> object:
    if op in EMPTINESS:
        return None
    kind = search.type
    if kind == BOOLEAN:
        if not isinstance(value, bool):
            raise p.fail("value", _("Enter true or false."))
        return value
    if kind == TEXT:
        if op == "in":
            return p.clean_text_list(value)
        return p.clean_text(value)
    if kind == NUMBER:
        if op == "between":
            return p.clean_pair(value, p.clean_number)
        return p.clean_number(value)
    if kind in (DATETIME, DATE):
        if op in ("within_days", "not_within_days"):
            return p.clean_days(value, "value")
        if op == "between":
            return p.clean_pair(value, p.clean_date)
        return p.clean_date(value)
    if kind == CHOICE:
        if op == "in":
            return _clean_list(value, lambda item: _clean_choice(search, item))
        return _clean_choice(search, value)
    # multiple choice
    return _clean_list(value, lambda item: _clean_choice(search, item))


# -- compilation -----------------------------------------------------------------------


def _local_midnight(iso_date: str) -> datetime.datetime:
    day = datetime.date.fromisoformat(iso_date)
    return timezone.make_aware(
        datetime.datetime.combine(day, datetime.time.min), timezone.get_default_timezone()
    )


def _next_day(iso_date: str) -> str:
    return (datetime.date.fromisoformat(iso_date) + datetime.timedelta(days=1)).isoformat()


def _compile_builtin(search: SearchField, op: str, value, context: CompileContext) -> Q:
    name = search.name
    kind = search.type
    if kind == BOOLEAN:
        return Q(**{name: value})
    if op == "empty":
        return Q(**{f"{name}__isnull": True}) if kind in (NUMBER, DATETIME) else Q(**{name: ""})
    if op == "not_empty":
        return ~_compile_builtin(search, "empty", None, context)
    if kind == TEXT:
        if name == "email":
            # Emails are unique case-insensitively through an index on LOWER(email).
            column = Lower(F("email"))
            if op == "in":
                return Q(In(column, [v.lower() for v in value]))
            if op in ("=", "!="):
                equal = Q(Exact(column, Lower(Value(value))))
                return equal if op == "=" else ~equal
        if op == "=":
            return Q(**{name: value})
        if op == "!=":
            return ~Q(**{name: value})
        if op == "in":
            return Q(**{f"{name}__in": value})
        match = Q(**{f"{name}__{TEXT_MATCHES[op]}": value})
        return ~match if op == "not_contains" else match
    if kind == NUMBER:
        if op == "=":
            return Q(**{name: value})
        if op == "!=":
            return ~Q(**{name: value})
        if op == "between":
            return Q(**{f"{name}__range": tuple(value)})
        return Q(**{f"{name}__{NUMBER_COMPARISONS[op]}": value})
    if kind == DATETIME:
        if op == "before":
            return Q(**{f"{name}__lt": _local_midnight(value)})
        if op == "after":
            return Q(**{f"{name}__gte": _local_midnight(_next_day(value))})
        if op == "between":
            return Q(**{f"{name}__gte": _local_midnight(value[0])}) & Q(
                **{f"{name}__lt": _local_midnight(_next_day(value[1]))}
            )
        window = Q(
            **{f"{name}__range": (context.now - datetime.timedelta(days=value), context.now)}
        )
        return window if op == "within_days" else ~window
    # choice
    if op == "=":
        return Q(**{name: value})
    if op == "!=":
        return ~Q(**{name: value})
    return Q(**{f"{name}__in": value})


def _contains(key: str, value: object) -> Q:
    """``custom @> {"key": value}``: answered by the GIN index on ``custom``."""
    return Q(custom__contains={key: value})


def _any_of(conditions: list[Q]) -> Q:
    result = conditions[0]
    for condition in conditions[1:]:
        result |= condition
    return result


def _typed(key: str, json_type: str) -> Q:
    """The key is there and holds a JSON value of this type: TRUE or FALSE, never NULL."""
    typeof = Func(KeyTransform(key, "custom"), function="jsonb_typeof", output_field=CharField())
    return Q(custom__has_key=key) & Q(Exact(typeof, json_type))


def _json(value: object) -> Value:
    """A JSONB parameter: a key compared with it compares as JSON, never as text."""
    return Value(value, output_field=JSONField())


def _custom_empty(key: str) -> Q:
    stored = KeyTransform(key, "custom")
    return (
        ~Q(custom__has_key=key)
        | _contains(key, None)
        | _contains(key, "")
        | (Q(custom__has_key=key) & Q(Exact(stored, _json([]))))
    )


def _custom_today_minus(days: int, context: CompileContext) -> str:
    return (timezone.localtime(context.now).date() - datetime.timedelta(days=days)).isoformat()


def _compile_custom(search: SearchField, op: str, value, context: CompileContext) -> Q:
    key = search.custom_key
    kind = search.type
    if op == "empty":
        return _custom_empty(key)
    if op == "not_empty":
        return ~_custom_empty(key)
    if kind == MULTI:
        if op == "contains_all":
            return _contains(key, list(value))
        return _any_of([_contains(key, [item]) for item in value])
    if op == "=":
        return _contains(key, value)
    if op == "!=":
        return ~_contains(key, value)
    if op == "in":
        return _any_of([_contains(key, item) for item in value])
    guard = _typed(key, JSON_TYPES[kind])
    if kind == TEXT:
        text = KeyTextTransform(key, "custom")
        match = Q(text.get_lookup(TEXT_MATCHES[op])(text, value))
        return ~(guard & match) if op == "not_contains" else guard & match
    if kind == NUMBER:
        stored = KeyTransform(key, "custom")
        if op == "between":
            low, high = value
            return (
                guard
                & Q(stored.get_lookup("gte")(stored, _json(low)))
                & Q(stored.get_lookup("lte")(stored, _json(high)))
            )
        return guard & Q(stored.get_lookup(NUMBER_COMPARISONS[op])(stored, _json(value)))
    # Custom dates are ISO strings, which sort as the dates they name.
    text = KeyTextTransform(key, "custom")

    def compare(lookup: str, iso: str) -> Q:
        return Q(text.get_lookup(lookup)(text, iso))

    if op == "before":
        return guard & compare("lt", value)
    if op == "after":
        return guard & compare("gt", value)
    if op == "between":
        return guard & compare("gte", value[0]) & compare("lte", value[1])
    today = timezone.localtime(context.now).date().isoformat()
    window = guard & compare("gte", _custom_today_minus(value, context)) & compare("lte", today)
    return window if op == "within_days" else ~window


@register_block
class AttributeBlock(BlockKind):
    name = "attribute"
    label = gettext_lazy("Lead attribute")

    def validate(self, params: dict) -> dict:
        p.reject_unknown(params, ("field", "op", "value"))
        search = search_field(params.get("field"))
        if search.type == BOOLEAN and str(params.get("op", "")).strip() in ("=", "=="):
            params = {**params, "op": "is"}
        op = p.clean_op(
            params,
            search.operators,
            what=_("%(field)s (%(type)s)")
            % {"field": search.label, "type": TYPE_LABELS[search.type]},
        )
        if search.type == BOOLEAN and op == "is" and "value" not in params:
            raise p.fail("value", _("Enter true or false."))
        if op not in EMPTINESS and search.type != BOOLEAN:
            p.require(params, "value")
        cleaned = {"field": search.name, "op": op}
        value = _clean_value(search, op, params.get("value"))
        if value is not None:
            cleaned["value"] = value
        return cleaned

    def compile(self, params: dict, context: CompileContext) -> Q:
        search = search_field(params["field"], context)
        if search.custom_key is not None:
            return _compile_custom(search, params["op"], params.get("value"), context)
        return _compile_builtin(search, params["op"], params.get("value"), context)

    def describe(self, params: dict) -> str:
        try:
            search = search_field(params.get("field"))
            label = str(search.label)
        except ValidationError:
            search, label = None, str(params.get("field"))
        op, value = params.get("op"), params.get("value")
        if op == "is":
            return str(PHRASES["is_true" if value else "is_false"]) % {"field": label}
        if search is not None and search.type == CHOICE and search.choices:
            names = dict(search.choices)
            value = (
                [str(names.get(v, v)) for v in value]
                if isinstance(value, list)
                else (str(names.get(value, value)))
            )
        values = {"field": label, "value": value}
        if isinstance(value, list):
            values["value"] = "、".join(str(v) for v in value)
            if op == "between":
                values.update(low=value[0], high=value[1])
        phrase = PHRASES.get(op)
        return str(phrase) % values if phrase else f"{label} {op} {value}"

    def parameters(self) -> list[dict]:
        return [
            {
                "name": "field",
                "type": "field",
                "required": True,
                "fields": [
                    {
                        "name": f.name,
                        "label": str(f.label),
                        "type": f.type,
                        "operators": list(f.operators),
                        **({"choices": [c for c, _label in f.choices]} if f.choices else {}),
                    }
                    for f in search_fields().values()
                ],
            },
            {"name": "op", "type": "operator", "required": True},
            {
                "name": "value",
                "type": "any",
                "required": False,
                "help": str(
                    _(
                        "Text, a number, true/false, an ISO date, a number of days, "
                        "a list for “in”, or [from, to] for “between”; none for empty/not_empty."
                    )
                ),
            },
        ]
