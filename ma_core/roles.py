"""Roles are Django groups; what each may do is declared here.

Groups are created by a data migration; ``sync_role_permissions`` runs after
every ``migrate`` and grants each role the permissions its rules match, so
the roles keep up as apps add models. A rule is ``(app_label, actions)``
where actions is a set of ``add``/``change``/``delete``/``view`` or ``*``;
a rule may also name single codenames as ``app_label.codename``.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

MARKETER = "Marketer"
INSIDE_SALES = "Inside sales"
SALES_REP = "Sales rep"
ADMIN = "Admin"

ROLE_LABELS = {
    MARKETER: _("Marketer"),
    INSIDE_SALES: _("Inside sales"),
    SALES_REP: _("Sales rep"),
    ADMIN: _("Admin"),
}

ALL = {"add", "change", "delete", "view"}
VIEW = {"view"}

ROLE_RULES: dict[str, list[tuple[str, set[str]]]] = {
    MARKETER: [
        ("leads", ALL),
        ("tracking", ALL),
        ("scoring", ALL),
        ("scenarios", ALL),
        ("sfa_sync", VIEW),
        ("ma_core", VIEW),
    ],
    INSIDE_SALES: [
        ("leads", {"view", "change"}),
        ("tracking", VIEW),
        ("scoring", VIEW),
        ("sfa_sync", VIEW),
    ],
    SALES_REP: [
        ("leads", VIEW),
        ("tracking", VIEW),
        ("scoring", VIEW),
        ("sfa_sync", {"view", "change"}),
    ],
    ADMIN: [
        ("auth", ALL),
        ("authtoken", ALL),
        ("ma_core", ALL),
        ("leads", ALL),
        ("tracking", ALL),
        ("scoring", ALL),
        ("scenarios", ALL),
        ("sfa_sync", ALL),
    ],
}

# Extra single permissions a role has beyond its rules: "app_label.codename".
ROLE_EXTRA: dict[str, list[str]] = {
    MARKETER: ["scoring.work_hotlist"],
    ADMIN: ["scoring.work_hotlist"],
    INSIDE_SALES: [
        "scoring.work_hotlist",
        "leads.add_activity",
        "leads.change_activity",
        "leads.add_activitycorrection",
        "leads.add_leadtag",
        "leads.delete_leadtag",
    ],
    SALES_REP: [
        "leads.add_activity",
        "leads.add_activitycorrection",
        "scoring.work_own_hotlist_members",
    ],
}
# sfa_sync: every role may hand a lead to the SFA; a sales rep also opens deals.
for _role in (MARKETER, INSIDE_SALES, SALES_REP, ADMIN):
    ROLE_EXTRA.setdefault(_role, []).append("sfa_sync.handoff_lead")
ROLE_EXTRA[SALES_REP].append("sfa_sync.add_deal")

# Single permissions a role's rules would match but it must not have:
# SFA connectors (credentials) are configured by the Admin role only.
ROLE_EXCLUDE: dict[str, list[str]] = {
    SALES_REP: ["sfa_sync.change_connector", "sfa_sync.change_outboxitem"],
}


def permission_matches(app_label: str, codename: str, role: str) -> bool:
    if f"{app_label}.{codename}" in ROLE_EXCLUDE.get(role, []):
        return False
    action = codename.split("_", 1)[0]
    for rule_app, actions in ROLE_RULES[role]:
        if rule_app == app_label and (action in actions or "*" in actions):
            return True
    return f"{app_label}.{codename}" in ROLE_EXTRA.get(role, [])


def sync_role_permissions(sender=None, apps=None, using="default", **kwargs) -> None:
    """Grant each role exactly the permissions its rules match. Idempotent."""
    from django.contrib.auth.models import Group, Permission

    permissions = list(Permission.objects.using(using).select_related("content_type"))
    for role in ROLE_RULES:
        group, _created = Group.objects.using(using).get_or_create(name=role)
        wanted = [
            p for p in permissions if permission_matches(p.content_type.app_label, p.codename, role)
        ]
        group.permissions.set(wanted)
