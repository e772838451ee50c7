"""Cleaning of block parameters shared by the block kinds.

Each function raises ``ValidationError({param: [message]})`` so the message
lands on the parameter the marketer has to fix ("blocks.2.value").
Numbers and dates typed with full-width characters (``１５``, ``２０２６／４／１``)
are accepted through NFKC, as the custom-field values are.
"""

from __future__ import annotations

import datetime
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _

#: A condition that matches every lead / no lead, and negates correctly
#: (``Q()`` would not: ``~Q()`` is still "no condition").
NO_LEAD = Q(pk__in=[])
EVERY_LEAD = ~Q(pk__in=[])

#: A window longer than this is a typo (or "ever": leave within_days out).
MAX_DAYS = 36500


def fail(param: str, message: str) -> ValidationError:
    return ValidationError({param: [message]})


def reject_unknown(params: dict, allowed: Iterable[str]) -> None:
    allowed = list(allowed)
    for name in params:
        if name not in allowed:
            raise fail(
                str(name),
                _("This block has no parameter “%(name)s”. It takes: %(allowed)s.")
                % {"name": name, "allowed": ", ".join(allowed)},
            )


def require(params: dict, name: str) -> object:
    value = params.get(name)
    if value is None or value == "" or value == []:
        raise fail(name, _("This parameter is required."))
    return value


def clean_op(params: dict, operators: Sequence[str], *, what: str = "") -> str:
    op = params.get("op")
    if op is None or op == "":
        raise fail("op", _("Choose an operator: %(ops)s.") % {"ops": ", ".join(operators)})
    op = unicodedata.normalize("NFKC", str(op)).strip().lower()
    op = {"==": "=", "<>": "!=", "≠": "!=", "≧": ">=", "≦": "<="}.get(op, op)
    if op not in operators:
        if what:
            message = _("“%(op)s” does not apply to %(what)s. Choose one of: %(ops)s.")
        else:
            message = _("“%(op)s” is not an operator here. Choose one of: %(ops)s.")
        raise fail(
            "op", message % {"op": params.get("op"), "what": what, "ops": ", ".join(operators)}
        )
    return op


def _normalized(value: object) -> str:
    return unicodedata.normalize("NFKC", str(value)).replace(",", "").strip()


def clean_number(value: object, param: str = "value") -> int | float:
    if isinstance(value, bool):
        raise fail(param, _("Enter a number such as 100, not %(value)s.") % {"value": value})
    if isinstance(value, int | float):
        return value
    try:
        number = Decimal(_normalized(value))
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise fail(param, _("Enter a number such as 100, not “%(value)s”.") % {"value": value})
    return int(number) if number == number.to_integral_value() else float(number)


def clean_count(value: object, param: str = "value", *, minimum: int = 0) -> int:
    """A whole number of things (activities, days) no smaller than ``minimum``."""
    number = clean_number(value, param)
    if number != int(number) or number < minimum:
        raise fail(
            param,
            _("Enter a whole number of at least %(minimum)d, not “%(value)s”.")
            % {"minimum": minimum, "value": value},
        )
    return int(number)


def clean_days(value: object, param: str = "within_days") -> int:
    days = clean_count(value, param, minimum=1)
    if days > MAX_DAYS:
        raise fail(param, _("Enter at most %(max)d days.") % {"max": MAX_DAYS})
    return days


def clean_date(value: object, param: str = "value") -> str:
    """An ISO date string ("2026-04-01"); "2026/4/1" is accepted too."""
    if isinstance(value, datetime.date):
        return value.isoformat()[:10]
    text = _normalized(value).replace("/", "-")
    try:
        return datetime.date.fromisoformat(
            "-".join(part.zfill(2) for part in text.split("-"))
        ).isoformat()
    except ValueError:
        raise fail(
            param, _("Enter a date such as 2026-04-01, not “%(value)s”.") % {"value": value}
        ) from None


def clean_pair(value: object, clean, param: str = "value") -> list:
    """The two ends of "between", smallest first."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise fail(param, _("Give the two ends of the range as a list: [from, to]."))
    low, high = clean(value[0], param), clean(value[1], param)
    if low > high:
        raise fail(
            param,
            _("The range starts after it ends (%(low)s > %(high)s): swap them.")
            % {"low": low, "high": high},
        )
    return [low, high]


def clean_text(value: object, param: str = "value", *, max_length: int = 300) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise fail(param, _("Enter text."))
    text = str(value).strip()
    if not text:
        raise fail(param, _("This parameter is required."))
    if len(text) > max_length:
        raise fail(param, _("Enter at most %(max)d characters.") % {"max": max_length})
    return text


def clean_text_list(value: object, param: str = "value", *, max_items: int = 1000) -> list[str]:
    """A list of texts; one text is a list of one. Duplicates are dropped."""
    items = value if isinstance(value, list | tuple) else [value]
    result: list[str] = []
    for item in items:
        text = clean_text(item, param)
        if text not in result:
            result.append(text)
    if not result:
        raise fail(param, _("Give at least one value."))
    if len(result) > max_items:
        raise fail(param, _("Give at most %(max)d values.") % {"max": max_items})
    return result


def clean_id(value: object, param: str = "value") -> int:
    return clean_count(value, param, minimum=1)
