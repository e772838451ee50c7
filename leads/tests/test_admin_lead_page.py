"""The lead page: attributes with custom fields, tags, activities, consents,
suppressions, lists and one timeline of everything, newest first."""

import datetime
import html as html_lib
import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads.models import (
    Activity,
    ActivityCorrection,
    CustomField,
    Lead,
    LeadTag,
    Suppression,
    TagChange,
)
from leads.services import (
    activity_create,
    consent_record,
    lead_merge,
    list_add,
    suppression_add,
    tags_add_bulk,
)
from leads.tests.factories import CompanyFactory, LeadFactory, StaticListFactory, UserFactory


def at(day: int, hour: int = 10) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime(2026, 10, day, hour, 0))


def page_url(lead: Lead) -> str:
    return f"/admin/leads/lead/{lead.pk}/change/"


def timeline_titles(response) -> list[str]:
    html = response.content.decode()
    timeline = html[html.index('id="kz-timeline"') :]
    timeline = timeline[: timeline.index("</ol>")]
    return [
        html_lib.unescape(re.sub(r"<[^>]+>", "", title).strip())
        for title in re.findall(r'<div class="kz-entry-title">(.*?)</div>', timeline, re.S)
    ]


@pytest.fixture
def marketer(db):
    user = UserFactory(username="page-marketer", last_name="佐藤", first_name="花子")
    user.groups.add(Group.objects.get(name="Marketer"))
    return user


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.mark.django_db
def test_the_timeline_shows_everything_newest_first(marketer_client, marketer):
    # given a lead with history of every kind, on different days
    lead = LeadFactory(email="history@a.example.co.jp", created_at=at(1))
    other = LeadFactory(email="duplicate@a.example.co.jp", created_at=at(1))
    consent_record(lead=lead, basis="business_card", source_ref="展示会", obtained_at=at(2))
    activity_create(
        lead=lead,
        type="phone",
        result="continue",
        content="不在",
        occurred_at=at(3),
        actor=marketer,
    )
    tags_add_bulk(lead_ids=[lead.pk], names=["資料請求"], actor_kind="form")
    TagChange.objects.filter(lead=lead).update(occurred_at=at(4))
    suppression = suppression_add(lead=lead, channel="phone", reason="manual")
    Suppression.objects.filter(pk=suppression.pk).update(created_at=at(5))
    activity_create(
        lead=lead,
        type="visit",
        result="opportunity",
        content="デモ",
        occurred_at=at(6),
        actor=marketer,
    )
    merge = lead_merge(survivor=lead, merged=other, by=marketer)
    merge.merged_at = at(7)
    merge.save()

    response = marketer_client.get(page_url(lead), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert timeline_titles(response) == [
        "Merged with 佐藤 " + other.first_name + " <duplicate@a.example.co.jp>",
        "訪問: 商談化",
        "Suppressed: Phone calls (Set by a user)",
        "Tag added: 資料請求",
        "電話: 継続フォロー",
        "Consent obtained (Business card (名刺))",
        "Lead created",
    ]


@pytest.mark.django_db
def test_the_timeline_pages_by_keyset_without_gaps_or_repeats(marketer_client, marketer):
    # given 60 activities, three of them at one instant on the page boundary
    lead = LeadFactory(created_at=at(1, 0))
    start = at(1, 1)
    moments = [start + datetime.timedelta(minutes=m) for m in range(57)]
    moments += [start + datetime.timedelta(minutes=7)] * 3
    Activity.objects.bulk_create(
        Activity(
            lead=lead,
            occurred_at=moment,
            type="mail",
            result="continue",
            content=f"mail {index}",
            created_by_kind="user",
        )
        for index, moment in enumerate(moments)
    )

    first = marketer_client.get(page_url(lead))
    html = first.content.decode()
    older = re.search(r'href="(\?before=[^"#]+)#timeline" class="kz-older"', html)
    assert older, "an older page is linked"
    second = marketer_client.get(page_url(lead) + older.group(1).replace("&amp;", "&"))

    def contents(response):
        return re.findall(r"mail \d+", response.content.decode().split('id="kz-timeline"')[1])

    shown = contents(first) + contents(second)
    assert len(shown) == len(set(shown)) == 60  # every activity once
    assert contents(first)[0] == "mail 56"  # newest first
    assert "Lead created" in second.content.decode() or "リード作成" in second.content.decode()
    assert 'class="kz-older"' not in second.content.decode()


@pytest.mark.django_db
def test_the_page_costs_the_same_few_queries_however_long_the_history(marketer_client):
    lead = LeadFactory()
    Activity.objects.bulk_create(
        Activity(
            lead=lead,
            occurred_at=at(1) + datetime.timedelta(minutes=m),
            type="mail",
            result="continue",
            created_by_kind="user",
        )
        for m in range(300)
    )
    tags_add_bulk(lead_ids=[lead.pk], names=[f"タグ{n}" for n in range(20)], actor_kind="user")
    with CaptureQueriesContext(connection) as captured:
        assert marketer_client.get(page_url(lead)).status_code == 200
    statements = [q for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) < 60


@pytest.mark.django_db
def test_logging_an_activity_from_the_lead_page(marketer_client, marketer):
    lead = LeadFactory(created_at=at(1))
    response = marketer_client.post(
        f"/admin/leads/lead/{lead.pk}/activities/",
        {
            "occurred_at_0": "2026-10-20",
            "occurred_at_1": "15:30",
            "type": "phone",
            "result": "opportunity",
            "source": "hot_list",
            "content": "決裁者と日程調整",
            "note": "来週デモ",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == page_url(lead) + "#timeline"
    activity = Activity.objects.get(lead=lead)
    assert (activity.type, activity.result, activity.source, activity.actor) == (
        "phone",
        "opportunity",
        "hot_list",
        marketer,
    )
    assert timezone.localtime(activity.occurred_at).strftime("%Y-%m-%d %H:%M") == "2026-10-20 15:30"
    lead.refresh_from_db()
    assert lead.last_activity_at == activity.occurred_at
    page = marketer_client.get(page_url(lead))
    assert timeline_titles(page)[0] == "電話: 商談化"
    assert "決裁者と日程調整" in page.content.decode()


@pytest.mark.django_db
def test_an_incomplete_activity_shows_the_form_again_with_what_was_typed(marketer_client):
    lead = LeadFactory()
    response = marketer_client.post(
        f"/admin/leads/lead/{lead.pk}/activities/",
        {
            "occurred_at_0": "2026-10-20",
            "occurred_at_1": "15:30",
            "type": "phone",
            "result": "",
            "content": "留守電に伝言",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "留守電に伝言" in html
    assert "errorlist" in html
    assert not Activity.objects.exists()


@pytest.mark.django_db
def test_correcting_an_activity_keeps_the_before_and_after(marketer_client, marketer):
    lead = LeadFactory()
    activity = activity_create(
        lead=lead,
        type="phone",
        result="continue",
        content="不在",
        occurred_at=at(3),
        actor=marketer,
    )
    url = f"/admin/leads/lead/{lead.pk}/activities/{activity.pk}/correct/"
    assert marketer_client.get(url).status_code == 200
    response = marketer_client.post(
        url,
        {
            "occurred_at_0": "2026-10-03",
            "occurred_at_1": "10:00",
            "type": "phone",
            "result": "opportunity",
            "source": "",
            "content": "不在",
            "note": "",
            "reason": "結果の入力ミス",
        },
    )
    assert response.status_code == 302
    correction = ActivityCorrection.objects.get()
    assert correction.changes == {"result": ["continue", "opportunity"]}
    assert (correction.reason, correction.corrected_by) == ("結果の入力ミス", marketer)
    html = marketer_client.get(page_url(lead), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "継続フォロー → 商談化" in html
    assert Activity.objects.count() == 1  # corrected, never replaced


@pytest.mark.django_db
def test_activities_cannot_be_deleted_in_the_admin(marketer_client):
    html = marketer_client.get("/admin/leads/").content.decode()
    assert "/admin/leads/activity/" not in html


@pytest.mark.django_db
def test_tags_are_added_and_removed_on_the_page_with_tag_changes(marketer_client, marketer):
    lead = LeadFactory()
    marketer_client.post(f"/admin/leads/lead/{lead.pk}/tags/", {"add": "展示会2026、資料請求"})
    assert set(LeadTag.objects.filter(lead=lead).values_list("tag__name", flat=True)) == {
        "展示会2026",
        "資料請求",
    }
    marketer_client.post(f"/admin/leads/lead/{lead.pk}/tags/", {"remove": "資料請求"})
    changes = TagChange.objects.filter(lead=lead).order_by("id")
    assert [(c.tag.name, c.action, c.actor) for c in changes] == [
        ("展示会2026", "added", marketer),
        ("資料請求", "added", marketer),
        ("資料請求", "removed", marketer),
    ]


@pytest.mark.django_db
def test_consents_suppressions_and_lists_are_listed_and_a_suppression_can_be_lifted(
    marketer_client, marketer
):
    lead = LeadFactory()
    consent_record(lead=lead, basis="form", source_ref="資料請求フォーム v3")
    suppression = suppression_add(lead=lead, channel="email", reason="unsubscribe")
    static_list = StaticListFactory(name="セミナー招待")
    list_add(static_list=static_list, lead_ids=[lead.pk], actor_kind="user", by=marketer)
    html = marketer_client.get(page_url(lead)).content.decode()
    assert "資料請求フォーム v3" in html
    assert "セミナー招待" in html
    lift_url = f"/admin/leads/lead/{lead.pk}/suppressions/{suppression.pk}/lift/"
    assert lift_url in html

    assert marketer_client.get(lift_url).status_code == 405  # only a POST lifts
    marketer_client.post(lift_url)
    suppression.refresh_from_db()
    assert suppression.lifted_at is not None and suppression.lifted_by == marketer


@pytest.fixture
def custom_fields(db):
    return [
        CustomField.objects.create(key="budget", label="予算", type="number", position=1),
        CustomField.objects.create(
            key="products",
            label="関心製品",
            type="multi_choice",
            choices=["MA", "SFA", "CRM"],
            position=2,
        ),
        CustomField.objects.create(key="timing", label="導入予定時期", type="date", position=3),
    ]


def lead_form_data(lead: Lead, **changes) -> dict:
    data = {
        "last_name": lead.last_name,
        "first_name": lead.first_name,
        "last_name_kana": "",
        "first_name_kana": "",
        "email": lead.email,
        "phone": lead.phone,
        "company_name": lead.company_name,
        "department": "",
        "title": "",
        "industry": "",
        "employee_count": "",
        "capital": "",
        "prefecture": "",
        "address": "",
        "stage": lead.stage,
        "owner": "",
        "is_nurture_target": "on",
        "first_touch_source": "",
        "last_touch_source": "",
        "custom__budget": "",
        "custom__timing": "",
    }
    data.update(changes)
    return data


@pytest.mark.django_db
def test_custom_fields_are_edited_and_validated_like_every_write(marketer_client, custom_fields):
    lead = LeadFactory(email="custom@a.example.co.jp", phone="03-0000-0001", custom={"budget": 1})
    page = marketer_client.get(page_url(lead)).content.decode()
    assert "関心製品" in page and "導入予定時期" in page

    # a valid edit is stored in the shape the services use
    response = marketer_client.post(
        page_url(lead),
        lead_form_data(
            lead,
            custom__budget="3000000",
            custom__products=["MA", "CRM"],
            custom__timing="2027-04-01",
            prefecture="13",
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    lead.refresh_from_db()
    assert lead.custom == {"budget": 3000000, "products": ["MA", "CRM"], "timing": "2027-04-01"}
    assert lead.prefecture == "13"

    # a wrong value is refused on its field and nothing changes
    response = marketer_client.post(page_url(lead), lead_form_data(lead, custom__budget="たくさん"))
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    lead.refresh_from_db()
    assert lead.custom["budget"] == 3000000


@pytest.mark.django_db
def test_editing_can_clear_a_field_and_change_the_email(marketer_client, custom_fields):
    company = CompanyFactory(name="東邦精密工業株式会社", domain="toho.example.co.jp")
    lead = LeadFactory(
        email="old@toho.example.co.jp",
        phone="03-0000-0001",
        company=company,
        custom={"budget": 100},
    )
    response = marketer_client.post(
        page_url(lead),
        lead_form_data(lead, email="New@Toho.example.co.jp", phone="", custom__budget=""),
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.email, lead.phone, lead.custom) == ("new@toho.example.co.jp", "", {})


@pytest.mark.django_db
def test_an_email_another_lead_has_is_refused(marketer_client):
    LeadFactory(email="taken@a.example.co.jp")
    lead = LeadFactory(email="mine@a.example.co.jp")
    response = marketer_client.post(
        page_url(lead), lead_form_data(lead, email="TAKEN@a.example.co.jp")
    )
    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.email == "mine@a.example.co.jp"


@pytest.mark.django_db
def test_adding_a_lead_goes_through_the_upsert(marketer_client, custom_fields):
    response = marketer_client.post(
        "/admin/leads/lead/add/",
        lead_form_data(
            Lead(stage="interest"),
            email="new@aoba.example.co.jp",
            last_name="青木",
            company_name="株式会社青葉テクノ",
            custom__budget="500000",
        ),
    )
    assert response.status_code == 302
    lead = Lead.objects.get()
    assert (lead.email, lead.last_name, lead.custom) == (
        "new@aoba.example.co.jp",
        "青木",
        {"budget": 500000},
    )
    assert lead.company is not None and lead.company.domain == "aoba.example.co.jp"


@pytest.mark.django_db
def test_a_sales_rep_reads_the_page_but_cannot_change_tags(client, custom_fields):
    rep = UserFactory(username="page-rep")
    rep.groups.add(Group.objects.get(name="Sales rep"))
    client.force_login(rep)
    lead = LeadFactory(custom={"budget": 3000000, "products": ["MA", "SFA"]}, owner=rep)
    page = client.get(page_url(lead))
    assert page.status_code == 200
    html = page.content.decode()
    assert "3000000" in html and "MA、SFA" in html  # custom values, read-only
    assert 'name="add"' not in html
    assert client.post(f"/admin/leads/lead/{lead.pk}/tags/", {"add": "x"}).status_code == 403
    assert not LeadTag.objects.exists()
