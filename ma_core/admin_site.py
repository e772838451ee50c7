from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


class KizukiAdminSite(admin.AdminSite):
    site_header = _("Kizuki administration")
    site_title = _("Kizuki")
    index_title = _("Marketing automation settings")


class KizukiAdminConfig(AdminConfig):
    default_site = "ma_core.admin_site.KizukiAdminSite"
