"""sfa_sync fixtures: the loopback kintone server, connectors, handed-over leads."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from leads.models import Lead
from ma_core.testing.waiting import wait_until  # noqa: F401 - the tests beside it import it from here
from sfa_sync.models import Connector

from .kintone_server import KintoneServer


@pytest.fixture
def kintone_server():
    servers: list[KintoneServer] = []

    def start(**kwargs) -> KintoneServer:
        server = KintoneServer(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def kintone(kintone_server) -> KintoneServer:
    return kintone_server()


def kintone_connector(server: KintoneServer, **overrides) -> Connector:
    values = {
        "name": "kintone 商談管理",
        "kind": "kintone",
        "base_url": server.base_url,
        "app_id": server.app,
        "guest_space_id": server.guest_space,
        "api_token": server.token,
        "update_key_field": server.key_field,
        "deal_status_field": "商談ステータス",
        **overrides,
    }
    return Connector.objects.create(**values)


@pytest.fixture
def connector(db, kintone) -> Connector:
    return kintone_connector(kintone)


@pytest.fixture
def rep(db):
    return get_user_model().objects.create_user(
        "suzuki", email="suzuki@example.co.jp", last_name="鈴木", first_name="次郎", is_staff=True
    )


def make_leads(count: int, owner=None, prefix: str = "lead") -> list[Lead]:
    return Lead.objects.bulk_create(
        [
            Lead(
                email=f"{prefix}{i}@customer{i}.example.co.jp",
                last_name="山田",
                first_name=f"太郎{i}",
                company_name=f"株式会社テスト{i}",
                phone=f"03-0000-{i:04d}",
                owner=owner,
            )
            for i in range(count)
        ]
    )


@pytest.fixture
def activity_choices(db) -> None:
    """The activity choice lists the leads migration installs (a transactional
    test's flush empties them)."""
    import importlib

    from django.apps import apps

    importlib.import_module("leads.migrations.0002_activity_choices").create(apps, None)
