from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class MaCoreConfig(AppConfig):
    name = "ma_core"
    verbose_name = _("Kizuki settings")

    def ready(self) -> None:
        from ma_core.roles import sync_role_permissions

        # Apps add models (and so permissions) issue by issue; after every
        # migrate the roles get the permissions their definitions name.
        post_migrate.connect(sync_role_permissions, dispatch_uid="kizuki-role-permissions")
