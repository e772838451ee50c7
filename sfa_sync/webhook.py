"""Signed webhooks, both ways.

Kizuki signs each body with the connector's secret: HMAC-SHA256 over
``<timestamp>.<raw body>`` in ``X-Kizuki-Signature: sha256=<hex>``, the
timestamp (Unix seconds) in ``X-Kizuki-Timestamp``. A receiver recomputes it
from the raw body and refuses old timestamps. Inbound deal updates must be
signed the same way with the same secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

#: Signed requests older (or newer) than this are refused: replays.
MAX_SKEW_SECONDS = 300
HTTP_TIMEOUT = 15


class WebhookError(Exception):
    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signature_valid(
    secret: str, timestamp: str, body: bytes, given: str, now: float | None = None
) -> bool:
    if not secret or not timestamp or not given:
        return False
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    if age > MAX_SKEW_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), given)


def post_signed(url: str, secret: str, payload: dict, delivery_id: int) -> int:
    body = json.dumps(payload, ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Kizuki-SFA/1",
        "X-Kizuki-Delivery": str(delivery_id),
        "X-Kizuki-Timestamp": timestamp,
        "X-Kizuki-Signature": signature(secret, timestamp, body),
    }
    # check_connector lets only http(s) URLs in.
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        text = exc.read(300).decode(errors="replace")
        transient = exc.code in (408, 425, 429) or exc.code >= 500
        raise WebhookError(f"HTTP {exc.code} {text}".strip(), transient=transient) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WebhookError(f"{type(exc).__name__}: {reason}", transient=True) from None
