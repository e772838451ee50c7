"""``manage.py loaddemo``: a realistic demo company, safe to run again.

Here it creates the organization and one user per role; each app adds its
own demo data in ``<app>/demo.py`` (a ``load(context)`` function), called in
INSTALLED_APPS order so data that others depend on comes first.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from ma_core import roles
from ma_core.demo_accounts import DEMO_COMPANY, DEMO_PASSWORD, DEMO_USERS
from ma_core.models import Organization


@dataclass
class DemoContext:
    organization: Organization
    users: dict[str, object] = field(default_factory=dict)
    stdout: object = None


class Command(BaseCommand):
    help = "Load (or refresh) the demo company: organization, one user per role, demo data."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--once",
            action="store_true",
            help="Do nothing when the demo company was loaded before (used by `make run`).",
        )

    def handle(self, *args, once: bool = False, **options) -> None:
        if once and Organization.objects.filter(name=DEMO_COMPANY).exists():
            self.stdout.write("Demo company already loaded.")
            return
        with transaction.atomic():
            context = load_demo(stdout=self.stdout)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo company {context.organization.name}: users "
                + ", ".join(sorted(context.users))
            )
        )


def load_demo(stdout=None) -> DemoContext:
    organization, _ = Organization.objects.get_or_create(
        name=DEMO_COMPANY,
        defaults={
            "postal_address": "〒100-0005 東京都千代田区丸の内1-1-1",
            "contact_email": "marketing@demo.kizuki.example",
        },
    )
    roles.sync_role_permissions()
    User = get_user_model()
    context = DemoContext(organization=organization, stdout=stdout)
    for username, last, first, role, staff, superuser in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "last_name": last,
                "first_name": first,
                "email": f"{username}@demo.kizuki.example",
                "is_staff": staff,
                "is_superuser": superuser,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=role))
        context.users[username] = user
    for app_config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{app_config.name}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app_config.name}.demo":
                raise
            continue
        module.load(context)
    return context
