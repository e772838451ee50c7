"""Request parsers for the API."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

_SURROGATE = re.compile("[\ud800-\udfff]")


def _holds_surrogate(value) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_holds_surrogate(k) or _holds_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_surrogate(item) for item in value)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing text no database can store: half of a
    surrogate pair (``"\\ud83d"`` alone, a string cut inside an emoji) is
    valid JSON but no character, and PostgreSQL would fail on it with a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if _holds_surrogate(data):
            raise ParseError(
                _(
                    "The JSON holds half of a surrogate pair (an escape in U+D800–U+DFFF "
                    "without its other half); send whole characters."
                )
            )
        return data
