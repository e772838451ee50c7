"""``loaddemo`` gives the demo leads months of realistic web history, and
loading it again adds nothing."""

import datetime

import pytest
from django.core.management import call_command
from django.db.models import Count, Max, Min
from django.utils import timezone

from leads.models import Lead
from tracking.models import Event, Visit, Visitor


def web_counts() -> dict[str, int]:
    return {
        "events": Event.objects.count(),
        "visits": Visit.objects.count(),
        "visitors": Visitor.objects.count(),
    }


@pytest.mark.django_db
def test_demo_leads_have_months_of_web_history():
    call_command("loaddemo")
    now = timezone.now()

    # months of history, not a single day
    span = Event.objects.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    assert span["last"] - span["first"] > datetime.timedelta(days=90)
    assert span["last"] <= now

    # most demo leads have page views of their own, split into several visits
    with_views = (
        Event.objects.filter(type="page_view", lead_id__isnull=False)
        .values("lead_id").distinct().count()
    )  # fmt: skip
    assert with_views >= 0.9 * Lead.objects.count()
    assert Visit.objects.filter(lead__isnull=False).count() > 2 * with_views // 2

    # some readers are hot (15+ page views in 30 days), most are not
    hot = (
        Event.objects.filter(type="page_view", occurred_at__gte=now - datetime.timedelta(days=30))
        .values("lead_id").annotate(n=Count("id")).filter(n__gte=15).count()
    )  # fmt: skip
    assert 5 <= hot < with_views // 2

    # anonymous visitors stay anonymous; leads came from campaigns and forms
    assert Visitor.objects.filter(lead__isnull=True).count() >= 100
    assert Event.objects.filter(type="form_submit").exists()
    assert Event.objects.filter(type="download").exists()
    assert Lead.objects.exclude(first_touch_source="").count() >= with_views // 2

    # loading again adds nothing
    first = web_counts()
    call_command("loaddemo")
    assert web_counts() == first
