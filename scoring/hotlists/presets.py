"""The dig-up list preset (掘り起こしリスト), registered the way tracking
registers the seed-004 HOT search; ``leads`` installs it after migrate.

"An opportunity or a lost deal older than 180 days" is read as: the lead had
an opportunity (商談化) but none in the last 180 days, or carries the lost
tag (失注) and had no sales activity in the last 180 days; and it visited
the site again in the last 14 days.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from leads.segments.presets import register_preset

HOT_PRESET = "hot_leads"
DIG_UP_PRESET = "dig_up_leads"
LOST_TAG = "失注"

register_preset(
    DIG_UP_PRESET,
    gettext_lazy("Dig-up list"),
    "((1 AND NOT 2) OR (3 AND NOT 4)) AND 5 AND 6 AND 7",
    {
        "1": {"kind": "activities", "op": ">=", "value": 1, "result": "opportunity"},
        "2": {
            "kind": "activities",
            "op": ">=",
            "value": 1,
            "result": "opportunity",
            "within_days": 180,
        },
        "3": {"kind": "tag", "op": "has", "value": LOST_TAG},
        "4": {"kind": "activities", "op": ">=", "value": 1, "within_days": 180},
        "5": {"kind": "last_visit", "op": "within", "value": 14},
        "6": {"kind": "attribute", "field": "email", "op": "not_empty"},
        "7": {"kind": "attribute", "field": "is_competitor", "op": "is", "value": False},
    },
    gettext_lazy(
        "Old opportunities and lost deals (over 180 days) who came back to the site "
        "in the last 14 days: call them again."
    ),
)
