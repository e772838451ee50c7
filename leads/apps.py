from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _install_presets(sender, **kwargs) -> None:
    from leads.segments import install_presets

    install_presets()


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = _("Leads")

    def ready(self) -> None:
        # Presets other apps register (tracking's seed-004 HOT search) become
        # saved segments after every migrate, once all block kinds exist.
        post_migrate.connect(_install_presets, sender=self, dispatch_uid="leads-install-presets")
