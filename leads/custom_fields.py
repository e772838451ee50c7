"""Validation of custom-field values (カスタマー項目) against their definitions."""

from __future__ import annotations

import datetime
import unicodedata
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from leads.models import CustomField


def active_fields() -> dict[str, CustomField]:
    return {f.key: f for f in CustomField.objects.filter(is_active=True)}


def clean_value(field: CustomField, raw: object) -> object:
    """Return the JSON value stored for ``raw``, or raise ValidationError.

    Numbers are stored as JSON numbers, dates as ISO strings (so they sort and
    compare in SQL), choices as their exact text, multiple choices as lists.
    """
    if raw is None or raw == "" or raw == []:
        if field.required:
            raise ValidationError(_("%(label)s is required.") % {"label": field.label})
        return None
    T = CustomField.Type
    if field.type == T.TEXT:
        return str(raw).strip()
    if field.type == T.NUMBER:
        text = unicodedata.normalize("NFKC", str(raw)).replace(",", "").strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValidationError(
                _("%(label)s must be a number, not “%(value)s”.")
                % {"label": field.label, "value": raw}
            ) from None
        return int(number) if number == number.to_integral_value() else float(number)
    if field.type == T.DATE:
        if isinstance(raw, datetime.date):
            return raw.isoformat()
        text = unicodedata.normalize("NFKC", str(raw)).strip().replace("/", "-")
        try:
            return datetime.date.fromisoformat(
                "-".join(part.zfill(2) for part in text.split("-"))
            ).isoformat()
        except ValueError:
            raise ValidationError(
                _("%(label)s must be a date like 2026-04-01, not “%(value)s”.")
                % {"label": field.label, "value": raw}
            ) from None
    choices = [str(c) for c in field.choices]
    if field.type == T.CHOICE:
        value = str(raw).strip()
        if value not in choices:
            raise ValidationError(
                _("%(label)s: “%(value)s” is not one of %(choices)s.")
                % {"label": field.label, "value": raw, "choices": " / ".join(choices)}
            )
        return value
    values = raw if isinstance(raw, list) else str(raw).replace("、", ";").split(";")
    values = [str(v).strip() for v in values if str(v).strip()]
    unknown = [v for v in values if v not in choices]
    if unknown:
        raise ValidationError(
            _("%(label)s: “%(value)s” is not one of %(choices)s.")
            % {"label": field.label, "value": ", ".join(unknown), "choices": " / ".join(choices)}
        )
    return values


def clean_custom(values: dict, *, fields: dict[str, CustomField] | None = None) -> dict:
    """Validate a {key: raw} dict; errors are collected per key."""
    fields = active_fields() if fields is None else fields
    cleaned, errors = {}, {}
    for key, raw in values.items():
        field = fields.get(key)
        if field is None:
            errors[key] = [_("There is no custom field “%(key)s”.") % {"key": key}]
            continue
        try:
            cleaned[key] = clean_value(field, raw)
        except ValidationError as exc:
            errors[key] = exc.messages
    if errors:
        raise ValidationError({f"custom.{k}": v for k, v in errors.items()})
    return cleaned
