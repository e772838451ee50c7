"""Japanese first, English when asked; catalogues ship compiled."""

import gettext
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

BASE_DIR = Path(__file__).resolve().parent.parent
PO_ENTRY = re.compile(r'^msgid "(.+)"\nmsgstr "(.*)"$', re.MULTILINE)


def po_entries(language: str) -> dict[str, str]:
    text = (BASE_DIR / "locale" / language / "LC_MESSAGES" / "django.po").read_text("utf-8")
    return dict(PO_ENTRY.findall(text))


def test_every_japanese_message_is_translated_and_compiled():
    entries = po_entries("ja")
    assert entries, "no catalogue"
    untranslated = [msgid for msgid, msgstr in entries.items() if not msgstr]
    assert untranslated == []
    text = (BASE_DIR / "locale/ja/LC_MESSAGES/django.po").read_text("utf-8")
    assert "#, fuzzy" not in text
    with open(BASE_DIR / "locale/ja/LC_MESSAGES/django.mo", "rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = [m for m, s in entries.items() if compiled.gettext(m.replace('\\"', '"')) != s]
    assert stale == [], "run `make messages` to compile the catalogue"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("accept", "title", "button"),
    [("", "ログイン | Kizuki", "ログイン"), ("en-US,en;q=0.9", "Log in | Kizuki", "Log in")],
)
def test_admin_login_speaks_the_browsers_language(client, accept, title, button):
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE=accept)
    html = response.content.decode()
    assert f"<title>{title}</title>" in html
    assert f'value="{button}"' in html


@pytest.mark.django_db
def test_home_page_in_japanese_names_the_users_roles(client):
    user = get_user_model().objects.create_user("hanako", password="pw-1234-abcd", last_name="佐藤")
    user.groups.add(Group.objects.get(name="Marketer"))
    client.force_login(user)
    html = client.get("/").content.decode()
    assert "佐藤 さん、ようこそ。" in html
    assert "マーケター" in html
    assert "システム状態" in html


@pytest.mark.django_db
def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
