"""The four roles exist as groups after migrate, with the permissions they need."""

import pytest
from django.contrib.auth.models import Group, Permission

from ma_core import roles


def perms(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


@pytest.mark.django_db
def test_migrate_creates_the_four_roles():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "Marketer",
        "Inside sales",
        "Sales rep",
        "Admin",
    }


@pytest.mark.django_db
def test_admin_manages_users_and_marketers_do_not():
    assert {"auth.add_user", "auth.change_group", "authtoken.add_token"} <= perms(roles.ADMIN)
    assert "auth.add_user" not in perms(roles.MARKETER)
    assert "auth.add_user" not in perms(roles.INSIDE_SALES)
    assert "ma_core.view_organization" in perms(roles.MARKETER)
    assert "ma_core.change_organization" not in perms(roles.MARKETER)


@pytest.mark.django_db
def test_sync_follows_the_rules_and_is_idempotent():
    # given a permission granted by hand that no rule gives
    marketer = Group.objects.get(name=roles.MARKETER)
    marketer.permissions.add(Permission.objects.get(codename="delete_user"))
    # when the roles are synced (as after every migrate), twice
    roles.sync_role_permissions()
    roles.sync_role_permissions()
    # then the stray permission is gone and the rule-given ones stay
    assert "auth.delete_user" not in perms(roles.MARKETER)
    assert "ma_core.view_organization" in perms(roles.MARKETER)


def test_permission_rules_match_by_app_and_action():
    assert roles.permission_matches("leads", "change_lead", roles.INSIDE_SALES)
    assert not roles.permission_matches("leads", "delete_lead", roles.INSIDE_SALES)
    assert roles.permission_matches("sfa_sync", "change_deal", roles.SALES_REP)
    assert not roles.permission_matches("scenarios", "view_template", roles.SALES_REP)
