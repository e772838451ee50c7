"""``loaddemo`` makes the HOT lead list with this week's members."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from scoring.hotlists.models import HotList, HotListRun
from scoring.hotlists.services import week_start_of


@pytest.mark.django_db
def test_loaddemo_makes_a_hot_list_with_this_weeks_members():
    call_command("loaddemo")
    call_command("loaddemo")  # again: nothing doubles

    hot_list = HotList.objects.get(name="HOTリードリスト")
    run = HotListRun.objects.get(hot_list=hot_list)
    assert run.week_start == week_start_of(timezone.now())
    assert run.member_count > 0
    assert run.members.filter(lead__owner__username="inside").exists()
    assert hot_list.team.filter(username="inside").exists()
    assert HotList.objects.filter(name="掘り起こしリスト").exists()
