"""Signed public addresses in mail: click redirects, open pixel, unsubscribe.

Every address is absolute (``settings.PUBLIC_URL``) and signed with the
secret key, so a token cannot be forged or altered. A click token names a
send and the index of a link in that send's stored links: the redirect can
only go to an address that was in that mail (no open redirect).
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

CLICK_SALT = "scenarios.click"
OPEN_SALT = "scenarios.open"
UNSUBSCRIBE_SALT = "scenarios.unsubscribe"


def public_url(path: str) -> str:
    return settings.PUBLIC_URL.rstrip("/") + path


def _sign(value: str, salt: str) -> str:
    return signing.Signer(salt=salt).sign(value)


def _unsign(token: str, salt: str) -> str | None:
    try:
        return signing.Signer(salt=salt).unsign(token)
    except signing.BadSignature:
        return None


def click_url(send_id: int, index: int) -> str:
    token = _sign(f"{send_id}.{index}", CLICK_SALT)
    return public_url(reverse("mail-click", args=[token]))


def read_click_token(token: str) -> tuple[int, int] | None:
    value = _unsign(token, CLICK_SALT)
    if value is None:
        return None
    send_id, _, index = value.partition(".")
    if not (send_id.isdigit() and index.isdigit()):
        return None
    return int(send_id), int(index)


def open_url(send_id: int) -> str:
    return public_url(reverse("mail-open", args=[_sign(str(send_id), OPEN_SALT)]))


def read_open_token(token: str) -> int | None:
    value = _unsign(token, OPEN_SALT)
    return int(value) if value and value.isdigit() else None


def unsubscribe_url(lead_id: int) -> str:
    return public_url(reverse("mail-unsubscribe", args=[_sign(str(lead_id), UNSUBSCRIBE_SALT)]))


def read_unsubscribe_token(token: str) -> int | None:
    value = _unsign(token, UNSUBSCRIBE_SALT)
    return int(value) if value and value.isdigit() else None
