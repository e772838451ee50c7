"""loaddemo creates the demo company and one user per role, and can run again."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from ma_core.demo_accounts import DEMO_COMPANY, DEMO_PASSWORD
from ma_core.models import Organization


@pytest.mark.django_db
def test_loaddemo_twice_gives_one_company_and_four_users(client):
    User = get_user_model()
    # when it runs twice
    call_command("loaddemo")
    call_command("loaddemo")
    # then there is one demo company and each role has its user, once
    assert list(Organization.objects.values_list("name", flat=True)) == [DEMO_COMPANY]
    assert User.objects.count() == 4
    assert set(User.objects.get(username="inside").groups.values_list("name", flat=True)) == {
        "Inside sales"
    }
    # and the printed login works
    assert client.login(username="admin", password=DEMO_PASSWORD)
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_loaddemo_keeps_a_changed_password():
    call_command("loaddemo")
    user = get_user_model().objects.get(username="marketer")
    user.set_password("my-own-secret-phrase")
    user.save()
    call_command("loaddemo")
    user.refresh_from_db()
    assert user.check_password("my-own-secret-phrase")


@pytest.mark.django_db
def test_once_does_nothing_the_second_time(capsys):
    call_command("loaddemo", "--once")
    Organization.objects.update(contact_email="changed@example.com")
    call_command("loaddemo", "--once")
    assert Organization.objects.get().contact_email == "changed@example.com"
    assert "already loaded" in capsys.readouterr().out
