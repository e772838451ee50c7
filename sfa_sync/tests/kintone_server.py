"""A kintone stand-in: a real HTTP server on loopback that follows kintone's
documented REST API for the calls Kizuki makes.

- ``PUT /k/v1/records.json`` (and ``/k/guest/<space>/v1/records.json``):
  ``app``, ``upsert``, ``records[].updateKey {field, value}`` + ``record``;
  at most 100 records (else 400 CB_VA01 with kintone's error JSON); the
  update key field must be the app's unique field; answers
  ``{"records": [{"id", "revision", "operation"}]}`` in request order.
- ``GET /k/v1/records.json?app=…&query=…&fields[n]=…``: the query forms
  ``<field> >= "<datetime>"`` and ``order by … limit … offset …``; limit at
  most 500; records as ``{code: {"type", "value"}}`` plus ``$id``.
- ``X-Cybozu-API-Token`` must hold the app's token (comma-separated tokens
  allowed), else 401 GAIA_IA02 — errors are ``{"code", "id", "message"
  [, "errors"]}``.
- ``mode``: "ok", "429" (too many requests), "outage" (503, not JSON).
- ``hang_next_put``: apply the next PUT, then hold the answer until
  ``release()`` (a worker killed while waiting never learns it succeeded).
"""

from __future__ import annotations

import datetime
import json
import re
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECORDS_PATH = re.compile(r"^/k/(?:guest/(\d+)/)?v1/records\.json$")
QUERY = re.compile(
    r'^\s*(?:(?P<field>\S+)\s*>=\s*"(?P<since>[^"]+)"\s*)?'
    r"(?:order by (?P<order>.+?))?\s*(?:limit (?P<limit>\d+))?\s*(?:offset (?P<offset>\d+))?\s*$"
)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kintone_now() -> str:
    """kintone keeps record times to the minute."""
    now = datetime.datetime.now(datetime.UTC).replace(second=0, microsecond=0)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def error(code: str, message: str, errors: dict | None = None) -> dict:
    body = {"code": code, "id": uuid.uuid4().hex[:20], "message": message}
    if errors:
        body["errors"] = errors
    return body


class KintoneServer:
    def __init__(
        self,
        *,
        app: int = 7,
        token: str = "kintone-token-abcdef123456",  # noqa: S107 - a test server's token
        key_field: str = "kizuki_lead_id",
        guest_space: int | None = None,
        number_fields: tuple[str, ...] = ("score",),
        updated_field: str = "更新日時",
    ) -> None:
        self.app = app
        self.token = token
        self.key_field = key_field
        self.guest_space = guest_space
        self.number_fields = number_fields
        self.updated_field = updated_field
        self.mode = "ok"
        self.records: dict[str, dict] = {}  # key value → record
        self.puts: list[int] = []  # records per accepted PUT
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.hang_next_put = False
        self.hanging = threading.Event()
        self._release = threading.Event()
        self.next_id = 1
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def answer(self, status: int, body: dict | str) -> None:
                raw = (
                    body.encode()
                    if isinstance(body, str)
                    else json.dumps(body, ensure_ascii=False).encode()
                )
                self.send_response(status)
                ctype = "text/html" if isinstance(body, str) else "application/json; charset=utf-8"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def guard(self, path: str) -> bool:
                match = RECORDS_PATH.match(path)
                if not match:
                    self.answer(404, error("GAIA_NF01", "指定したURLが見つかりません。"))
                    return False
                space = int(match.group(1)) if match.group(1) else None
                if space != owner.guest_space:
                    self.answer(403, error("GAIA_IL23", "ゲストスペースのパスが正しくありません。"))
                    return False
                if owner.mode == "outage":
                    self.answer(503, "<html><body>Service Unavailable</body></html>")
                    return False
                if owner.mode == "429":
                    self.answer(429, error("GAIA_TM12", "同時リクエスト数の上限を超えています。"))
                    return False
                tokens = [t.strip() for t in self.headers.get("X-Cybozu-API-Token", "").split(",")]
                if owner.token not in tokens:
                    self.answer(401, error("GAIA_IA02", "指定したAPIトークンが無効です。"))
                    return False
                return True

            def do_PUT(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                owner.requests.append({"method": "PUT", "path": self.path, "body": body})
                if not self.guard(urllib.parse.urlsplit(self.path).path):
                    return
                if str(body.get("app")) != str(owner.app):
                    self.answer(404, error("GAIA_AP01", "指定したアプリが存在しません。"))
                    return
                records = body.get("records") or []
                if len(records) > 100:
                    self.answer(
                        400,
                        error(
                            "CB_VA01",
                            "入力内容が正しくありません。",
                            {"records": {"messages": ["一度に100件までです。"]}},
                        ),
                    )
                    return
                errors = {}
                for i, item in enumerate(records):
                    key = item.get("updateKey") or {}
                    if key.get("field") != owner.key_field:
                        errors[f"records[{i}].updateKey.field"] = {
                            "messages": ["重複禁止が設定されたフィールドを指定してください。"]
                        }
                    for code, value in (item.get("record") or {}).items():
                        if code in owner.number_fields and not re.fullmatch(
                            r"-?\d+(\.\d+)?", str(value.get("value", ""))
                        ):
                            errors[f"records[{i}].record.{code}.value"] = {
                                "messages": ["数字でなければなりません。"]
                            }
                if errors or (records and not body.get("upsert")):
                    self.answer(
                        400, error("CB_VA01", "入力内容が正しくありません。", errors or None)
                    )
                    return
                answer = []
                with owner.lock:
                    for item in records:
                        answer.append(owner.upsert(str(item["updateKey"]["value"]), item["record"]))
                    owner.puts.append(len(records))
                    hang, owner.hang_next_put = owner.hang_next_put, False
                if hang:
                    owner.hanging.set()
                    owner._release.wait(60)
                    self.close_connection = True
                    return
                self.answer(200, {"records": answer})

            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(parts.query))
                owner.requests.append({"method": "GET", "path": self.path, "params": params})
                if not self.guard(parts.path):
                    return
                if str(params.get("app")) != str(owner.app):
                    self.answer(404, error("GAIA_AP01", "指定したアプリが存在しません。"))
                    return
                match = QUERY.match(params.get("query", ""))
                if not match:
                    self.answer(400, error("GAIA_IQ11", "クエリ記法が間違っています。"))
                    return
                limit = int(match.group("limit") or 100)
                offset = int(match.group("offset") or 0)
                if limit > 500 or offset > 10_000:
                    self.answer(
                        400,
                        error(
                            "CB_VA01",
                            "入力内容が正しくありません。",
                            {"limit": {"messages": ["500以下である必要があります。"]}},
                        ),
                    )
                    return
                with owner.lock:
                    rows = list(owner.records.values())
                if match.group("field"):
                    since = match.group("since")
                    rows = [r for r in rows if r[match.group("field")]["value"] >= since]
                rows.sort(key=lambda r: (r[owner.updated_field]["value"], int(r["$id"]["value"])))
                rows = rows[offset : offset + limit]
                fields = [v for k, v in params.items() if k.startswith("fields[")]
                if fields:
                    rows = [{k: v for k, v in r.items() if k in fields} for r in rows]
                self.answer(200, {"records": rows, "totalCount": None})

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def upsert(self, key: str, record: dict) -> dict:
        """Apply one record (the lock is held)."""
        existing = self.records.get(key)
        now = kintone_now()
        if existing is None:
            existing = {
                "$id": {"type": "__ID__", "value": str(self.next_id)},
                "$revision": {"type": "__REVISION__", "value": "0"},
                self.key_field: {"type": "SINGLE_LINE_TEXT", "value": key},
                "作成日時": {"type": "CREATED_TIME", "value": now},
            }
            self.next_id += 1
            self.records[key] = existing
            operation = "INSERT"
        else:
            operation = "UPDATE"
        for code, value in record.items():
            existing[code] = {
                "type": "NUMBER" if code in self.number_fields else "SINGLE_LINE_TEXT",
                "value": value.get("value"),
            }
        revision = str(int(existing["$revision"]["value"]) + 1)
        existing["$revision"]["value"] = revision
        existing[self.updated_field] = {"type": "UPDATED_TIME", "value": now}
        return {"id": existing["$id"]["value"], "revision": revision, "operation": operation}

    def edit(self, key: str, code: str, value: str) -> None:
        """What a salesperson does in kintone: change a field of a record."""
        with self.lock:
            self.upsert(key, {code: {"value": value}})

    def start(self) -> KintoneServer:
        self.thread.start()
        return self

    def release(self) -> None:
        self._release.set()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
