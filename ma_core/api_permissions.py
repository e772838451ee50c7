"""API permissions that follow the roles (Django model permissions), reads included."""

from rest_framework.permissions import DjangoModelPermissions


class RolePermissions(DjangoModelPermissions):
    """Like DjangoModelPermissions, but reading needs the ``view`` permission too,
    so a role sees over the API exactly what it sees in the admin."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
    }


class ChangePermissions(RolePermissions):
    """For actions that modify an existing object with POST (tags, members):
    they need ``change``, not ``add``."""

    perms_map = {
        **RolePermissions.perms_map,
        "POST": ["%(app_label)s.change_%(model_name)s"],
    }
