"""Demo HOT lists: the seed-004 HOT lead list with this week made, and the
dig-up list (called from scoring's demo, after the scores exist)."""

from __future__ import annotations

import datetime

from django.utils import timezone

from leads.models import Segment
from leads.segments import install_presets
from scoring.hotlists.models import HotList
from scoring.hotlists.presets import DIG_UP_PRESET, HOT_PRESET
from scoring.hotlists.services import hot_list_materialize, member_assign


def load(context) -> None:
    install_presets()
    inside = context.users.get("inside")
    marketer = context.users.get("marketer")
    made = []
    for name, preset, source in (
        ("HOTリードリスト", HOT_PRESET, "hot_list"),
        ("掘り起こしリスト", DIG_UP_PRESET, "dig_up_list"),
    ):
        segment = Segment.objects.filter(preset_key=preset).first()
        if segment is None:
            continue
        hot_list, created = HotList.objects.get_or_create(
            name=name,
            defaults={
                "segment": segment,
                "activity_source": source,
                "created_by": marketer,
                "created_at": timezone.now() - datetime.timedelta(days=28),
            },
        )
        if created:
            hot_list.team.set([u for u in (inside,) if u])
            hot_list.report_recipients.set([u for u in (marketer,) if u])
        run = hot_list_materialize(hot_list=hot_list, by=marketer)
        made.append(run)
    # Inside sales took the first lead of the HOT list already.
    if made and inside is not None:
        first = made[0].members.order_by("position").first()
        if first is not None and first.lead.owner_id is None:
            member_assign(member=first, owner=inside)
    if context.stdout is not None:
        for run in made:
            context.stdout.write(
                f"HOT list “{run.hot_list.name}”, week of {run.week_start}: "
                f"{run.member_count} leads"
            )
