from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SfaSyncConfig(AppConfig):
    name = "sfa_sync"
    verbose_name = _("SFA sync")
