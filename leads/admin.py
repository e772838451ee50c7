"""The leads admin, one module per area (each registers its own ModelAdmins)."""

from leads import admin_imports, admin_leads, admin_segments  # noqa: F401
