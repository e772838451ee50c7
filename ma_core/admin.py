from django.contrib import admin

from ma_core.models import Organization


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "contact_email", "created_at")

    def has_add_permission(self, request) -> bool:
        # One organization runs this Kizuki.
        return not Organization.objects.exists() and super().has_add_permission(request)
