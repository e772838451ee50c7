"""Signed public addresses in mail: click redirects, open pixel, unsubscribe.

Every address is absolute (``settings.PUBLIC_URL``) and signed with the
secret key, so a token cannot be forged or altered. A click token names a
send and the index of a link in that send's stored links: the redirect can
only go to an address that was in that mail (no open redirect).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.encoding import force_bytes

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


class SendLinks:
    """The addresses of many sends, signed as the functions above sign them,
    with the signers and the URL around each token made once (a newsletter
    signs seven or so addresses per mail)."""

    _PLACEHOLDER = "kizukitoken"

    def __init__(self) -> None:
        # What signing.Signer(salt=…).sign does, with its key derived once:
        # value:base64url(HMAC-SHA256(sha256(salt + "signer" + SECRET_KEY), value)).
        secret = force_bytes(settings.SECRET_KEY)
        self._keys = {
            salt: hashlib.sha256(force_bytes(salt + "signer") + secret).digest()
            for salt in (CLICK_SALT, OPEN_SALT, UNSUBSCRIBE_SALT)
        }
        self._around = {
            name: public_url(reverse(name, args=[self._PLACEHOLDER])).split(self._PLACEHOLDER)
            for name in ("mail-click", "mail-open", "mail-unsubscribe")
        }

    def _sign(self, value: str, salt: str) -> str:
        mac = hmac.digest(self._keys[salt], value.encode(), "sha256")
        return f"{value}:{base64.urlsafe_b64encode(mac).rstrip(b'=').decode('ascii')}"

    def _url(self, name: str, token: str) -> str:
        before, after = self._around[name]
        # reverse() would quote the token; a signed token needs none (digits,
        # ".", ":" and URL-safe base64), so it goes in as it is.
        return f"{before}{token}{after}"

    def click_url(self, send_id: int, index: int) -> str:
        return self._url("mail-click", self._sign(f"{send_id}.{index}", CLICK_SALT))

    def open_url(self, send_id: int) -> str:
        return self._url("mail-open", self._sign(str(send_id), OPEN_SALT))

    def unsubscribe_url(self, lead_id: int) -> str:
        return self._url("mail-unsubscribe", self._sign(str(lead_id), UNSUBSCRIBE_SALT))
