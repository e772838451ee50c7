"""The demo company's name and logins (``loaddemo`` creates them; ``make run``
prints them). Plain data, importable before Django is set up."""

from ma_core import roles

DEMO_COMPANY = "株式会社キヅキ・デモ"
DEMO_PASSWORD = "kizuki-demo-2026"  # noqa: S105 - a demo login, printed by `make run`

DEMO_USERS = [
    # username, last name, first name, role, staff, superuser
    ("admin", "管理", "太郎", roles.ADMIN, True, True),
    ("marketer", "佐藤", "花子", roles.MARKETER, True, False),
    ("inside", "鈴木", "一郎", roles.INSIDE_SALES, True, False),
    ("sales", "高橋", "健", roles.SALES_REP, True, False),
]
