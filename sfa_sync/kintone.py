"""The kintone REST API calls Kizuki uses, as documented by Cybozu.

- ``PUT /k/v1/records.json`` (guest space: ``/k/guest/<space>/v1/records.json``)
  with ``upsert: true`` and ``records[].updateKey`` — at most 100 records per
  request; answers ``{"records": [{"id", "revision", "operation"}]}`` in
  request order.
- ``GET /k/v1/records.json`` with ``app``, ``query`` (``order by``,
  ``limit`` ≤ 500, ``offset`` ≤ 10,000) and ``fields[n]``.
- Authentication by the ``X-Cybozu-API-Token`` header. Errors answer JSON
  ``{"code", "id", "message", "errors"}``.

The token travels only in that header: it is never part of a URL, an error
message or a log line.
"""

from __future__ import annotations

import datetime
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

#: kintone's limits (documented): records per PUT, records per GET, largest offset.
PUT_LIMIT = 100
GET_LIMIT = 500
MAX_OFFSET = 10_000
HTTP_TIMEOUT = 30


@dataclass
class KintoneError(Exception):
    """A failed call. ``transient`` ones (429, 5xx, network) are retried with
    backoff; ``bad_indexes`` names the records of a PUT kintone refused."""

    message: str
    status: int | None = None
    transient: bool = False
    bad_indexes: tuple[int, ...] = ()

    def __str__(self) -> str:
        return self.message


_RECORD_INDEX = re.compile(r"^records\[(\d+)\]")


def _call(method: str, url: str, token: str, body: dict | None = None) -> dict:
    headers = {"X-Cybozu-API-Token": token, "User-Agent": "Kizuki-SFA/1"}
    data = None
    if body is not None:
        data = json.dumps(body, ensure_ascii=False).encode()
        headers["Content-Type"] = "application/json"
    # The connector's base URL is checked to be http(s) when it is saved.
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raw = exc.read(4000)
        try:
            error = json.loads(raw)
        except ValueError:
            error = {"message": raw.decode(errors="replace")[:300]}
        bad = sorted(
            {
                int(match.group(1))
                for key in (error.get("errors") or {})
                for match in [_RECORD_INDEX.match(key)]
                if match
            }
        )
        detail = error.get("message", "")
        if error.get("errors"):
            detail += " " + json.dumps(error["errors"], ensure_ascii=False)[:1500]
        code = f" {error['code']}" if error.get("code") else ""
        raise KintoneError(
            f"HTTP {exc.code}{code}: {detail}".strip(),
            status=exc.code,
            transient=exc.code in (408, 425, 429) or exc.code >= 500,
            bad_indexes=tuple(bad),
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise KintoneError(f"{type(exc).__name__}: {reason}", transient=True) from None
    except ValueError as exc:  # a 2xx that is not JSON: a proxy page, not kintone
        raise KintoneError(f"not a kintone answer: {exc}", transient=True) from None


def records_upsert(
    *, records_url: str, token: str, app: int, key_field: str, records: list[tuple[str, dict]]
) -> list[dict]:
    """Upsert ``(key value, record)`` pairs in one request (≤ 100).

    Idempotent: a record whose key exists is updated, so sending the same
    batch twice leaves one record per key."""
    if len(records) > PUT_LIMIT:
        raise ValueError(f"kintone takes at most {PUT_LIMIT} records per request")
    body = {
        "app": app,
        "upsert": True,
        "records": [
            {"updateKey": {"field": key_field, "value": key}, "record": record}
            for key, record in records
        ],
    }
    return _call("PUT", records_url, token, body).get("records", [])


def records_get(
    *, records_url: str, token: str, app: int, query: str, fields: list[str]
) -> list[dict]:
    params = [("app", str(app)), ("query", query)]
    params += [(f"fields[{i}]", name) for i, name in enumerate(fields)]
    url = f"{records_url}?{urllib.parse.urlencode(params)}"
    return _call("GET", url, token).get("records", [])


def query_datetime(moment: datetime.datetime) -> str:
    """A datetime as kintone queries take it: ``"2012-02-03T09:00:00Z"``."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def query_string(value: str) -> str:
    """A string literal in a kintone query (double quotes, backslash-escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_datetime(value: str) -> datetime.datetime | None:
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
