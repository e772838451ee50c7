"""The leads part of ``loaddemo``: realistic, repeatable, fast, safe to run again."""

import pytest
from django.core.management import call_command

from leads.models import (
    Activity,
    Company,
    Consent,
    CustomField,
    Lead,
    LeadTag,
    ListMembership,
    StaticList,
    Suppression,
    Tag,
    TagChange,
)

MODELS = (
    Company,
    Lead,
    Tag,
    LeadTag,
    TagChange,
    Activity,
    Consent,
    Suppression,
    StaticList,
    ListMembership,
    CustomField,
)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


@pytest.mark.django_db
def test_loading_twice_gives_the_same_data():
    # How fast it loads is not asserted here (a timed test fails on a busy
    # machine); make run's start-up time is checked by tests/test_make_run.py.
    call_command("loaddemo")
    first = counts()
    call_command("loaddemo")
    assert counts() == first
    assert first["Lead"] == 300
    assert first["Company"] == 60
    assert first["Activity"] > 200
    assert first["StaticList"] == 2


@pytest.mark.django_db
def test_the_demo_looks_like_a_japanese_b2b_lead_base():
    call_command("loaddemo")
    # companies with fictional corporate domains under the reserved example.co.jp
    assert all(
        domain.endswith(".example.co.jp")
        for domain in Company.objects.values_list("domain", flat=True)
    )
    # every lead belongs to its company by email domain
    lead = Lead.objects.select_related("company").order_by("pk").first()
    assert lead.email.endswith("@" + lead.company.domain)
    assert lead.last_name and lead.last_name_kana and lead.department and lead.title
    # tags, owners and custom values are spread over the leads
    assert set(Tag.objects.values_list("name", flat=True)) >= {
        "展示会2026",
        "資料請求",
        "セミナー参加",
        "失注",
        "競合",
        "コール拒否",
    }
    owners = set(Lead.objects.exclude(owner=None).values_list("owner__username", flat=True))
    assert owners == {"sales", "inside"}
    assert Lead.objects.filter(custom__has_key="interested_products").exists()
    # consents follow how the lead came: business cards at the exhibition, forms for requests
    exhibition = Lead.objects.filter(lead_tags__tag__name="展示会2026")
    assert not exhibition.exclude(consents__basis="business_card").exists()
    requested = Lead.objects.filter(lead_tags__tag__name="資料請求")
    assert not requested.exclude(consents__basis="form").exists()
    # leads who refused calls are suppressed for phone
    refused = Lead.objects.filter(lead_tags__tag__name="コール拒否")
    assert refused.exists()
    assert not refused.exclude(suppressions__channel="phone").exists()
    # activities use the seed choice lists
    assert set(Activity.objects.values_list("type", flat=True)) <= {
        "mail",
        "phone",
        "visit",
        "web_meeting",
    }
    assert set(Activity.objects.values_list("result", flat=True)) <= {
        "continue",
        "opportunity",
        "archive",
    }


@pytest.mark.django_db
def test_the_demo_is_the_same_every_time():
    call_command("loaddemo")
    first = list(Lead.objects.order_by("email").values_list("email", "stage", "owner__username"))
    Lead.objects.all().delete()
    call_command("loaddemo")
    again = list(Lead.objects.order_by("email").values_list("email", "stage", "owner__username"))
    assert again == first
