"""The other lead admins: companies, tags, custom-field definitions, activity
choices, lists, and the read-only consents, suppressions and merges."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import ActivityChoice, CustomField, ListMembership, Tag
from leads.services import (
    consent_record,
    lead_merge,
    list_add,
    suppression_add,
    tags_add_bulk,
)
from leads.tests.factories import (
    CompanyFactory,
    LeadFactory,
    StaticListFactory,
    TagFactory,
    UserFactory,
)


def user_with_role(role: str, username: str):
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def marketer(db):
    return user_with_role("Marketer", "settings-marketer")


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.mark.django_db
def test_a_sales_rep_cannot_open_custom_field_definitions(client):
    field = CustomField.objects.create(key="budget", label="予算", type="number")
    client.force_login(user_with_role("Sales rep", "settings-rep"))
    assert client.get("/admin/leads/customfield/add/").status_code == 403
    assert client.get(f"/admin/leads/customfield/{field.pk}/change/").status_code == 403
    response = client.post(
        f"/admin/leads/customfield/{field.pk}/change/",
        {"key": "budget", "label": "x", "type": "text"},
    )
    assert response.status_code == 403
    field.refresh_from_db()
    assert field.label == "予算"
    # the list of definitions stays readable, without links to pages they cannot open
    listing = client.get("/admin/leads/customfield/")
    assert listing.status_code == 200
    assert "予算" in listing.content.decode()
    assert f"/admin/leads/customfield/{field.pk}/change/" not in listing.content.decode()


@pytest.mark.django_db
def test_a_marketer_defines_a_choice_field_one_choice_per_line(marketer_client):
    response = marketer_client.post(
        "/admin/leads/customfield/add/",
        {
            "key": "products",
            "label": "関心製品",
            "type": "multi_choice",
            "choices": "MAツール\nSFA\n\nMAツール\nCRM",
            "position": 1,
            "help_text": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    field = CustomField.objects.get(key="products")
    assert field.choices == ["MAツール", "SFA", "CRM"]
    page = marketer_client.get(f"/admin/leads/customfield/{field.pk}/change/").content.decode()
    assert "MAツール\nSFA\nCRM" in page
    # a choice type without choices is refused
    refused = marketer_client.post(
        "/admin/leads/customfield/add/",
        {"key": "size", "label": "規模", "type": "choice", "choices": "", "position": 2},
    )
    assert refused.status_code == 200
    assert not CustomField.objects.filter(key="size").exists()


@pytest.mark.django_db
def test_company_lead_count_is_on_the_page_not_the_list(marketer_client):
    company = CompanyFactory(name="東邦精密工業株式会社")
    LeadFactory.create_batch(3, company=company)
    with CaptureQueriesContext(connection) as captured:
        listing = marketer_client.get("/admin/leads/company/")
    assert "東邦精密工業株式会社" in listing.content.decode()
    assert not any('"leads_lead"' in q["sql"] for q in captured.captured_queries)

    page = marketer_client.get(f"/admin/leads/company/{company.pk}/change/").content.decode()
    assert f'/admin/leads/lead/?company__id__exact={company.pk}">3<' in page


@pytest.mark.django_db
def test_activity_choices_are_edited_in_place_and_never_deleted(marketer_client):
    phone = ActivityChoice.objects.get(kind="type", code="phone")
    mail = ActivityChoice.objects.get(kind="type", code="mail")
    listing = marketer_client.get("/admin/leads/activitychoice/", {"kind__exact": "type"})
    html = listing.content.decode()
    assert html.index("メール") < html.index("電話")  # by position
    assert 'name="form-0-position"' in html
    assert marketer_client.get(f"/admin/leads/activitychoice/{phone.pk}/delete/").status_code == 403
    # the code of an existing choice is shown, not editable
    page = marketer_client.get(f"/admin/leads/activitychoice/{mail.pk}/change/").content.decode()
    assert 'name="code"' not in page


@pytest.mark.django_db
def test_a_tag_in_use_can_be_neither_deleted_nor_renamed(marketer_client):
    used = TagFactory(name="失注")
    unused = TagFactory(name="未使用")
    tags_add_bulk(lead_ids=[LeadFactory().pk], names=["失注"], actor_kind="user")
    assert marketer_client.get(f"/admin/leads/tag/{used.pk}/delete/").status_code == 403
    assert (
        'name="name"'
        not in marketer_client.get(f"/admin/leads/tag/{used.pk}/change/").content.decode()
    )
    assert marketer_client.get(f"/admin/leads/tag/{unused.pk}/delete/").status_code == 200
    assert Tag.objects.count() == 2


@pytest.mark.django_db
def test_a_list_shows_its_members_read_only_and_takes_emails(marketer_client, marketer):
    static_list = StaticListFactory(name="展示会フォロー")
    member = LeadFactory(email="member@a.example.co.jp", last_name="田中", first_name="健太")
    newcomer = LeadFactory(email="new@a.example.co.jp")
    list_add(static_list=static_list, lead_ids=[member.pk], actor_kind="import", by=marketer)
    url = f"/admin/leads/staticlist/{static_list.pk}/change/"
    html = marketer_client.get(url).content.decode()
    assert "田中 健太" in html
    assert "listmembership_set-0-lead" not in html  # nothing to edit in the rows

    response = marketer_client.post(
        url,
        {
            "name": "展示会フォロー",
            "description": "",
            "add_emails": "NEW@a.example.co.jp\nnobody@x.example",
            "remove_emails": "member@a.example.co.jp",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "0",
            "memberships-0-id": ListMembership.objects.get().pk,
            "memberships-0-static_list": static_list.pk,
        },
        follow=True,
    )
    assert "nobody@x.example" in response.content.decode()  # reported, not silently dropped
    active = ListMembership.objects.filter(static_list=static_list, removed_at__isnull=True)
    assert [m.lead_id for m in active] == [newcomer.pk]
    removed = ListMembership.objects.get(lead=member)
    assert removed.removed_by == marketer


@pytest.mark.django_db
def test_consents_suppressions_and_merges_are_read_only(marketer_client, marketer):
    lead = LeadFactory(email="keep@a.example.co.jp")
    consent = consent_record(lead=lead, basis="form")
    suppression = suppression_add(lead=lead, channel="email", reason="unsubscribe")
    merge = lead_merge(survivor=lead, merged=LeadFactory(email="gone@a.example.co.jp"), by=marketer)
    for model, record in (("consent", consent), ("suppression", suppression), ("leadmerge", merge)):
        base = f"/admin/leads/{model}/"
        assert marketer_client.get(base).status_code == 200
        assert marketer_client.get(base + "add/").status_code == 403
        assert marketer_client.get(f"{base}{record.pk}/delete/").status_code == 403
        page = marketer_client.get(f"{base}{record.pk}/change/").content.decode()
        assert 'name="_save"' not in page
    # searching by the lead's email finds its records
    found = marketer_client.get("/admin/leads/consent/", {"q": "keep@"}).content.decode()
    assert f"/admin/leads/consent/{consent.pk}/change/" in found
    found = marketer_client.get("/admin/leads/leadmerge/", {"q": "gone@"}).content.decode()
    assert f"/admin/leads/leadmerge/{merge.pk}/change/" in found


@pytest.mark.django_db
def test_suppressions_are_lifted_by_an_action(marketer_client, marketer):
    suppression = suppression_add(lead=LeadFactory(), channel="phone", reason="manual")
    marketer_client.post(
        "/admin/leads/suppression/",
        {"action": "lift", "index": 0, "_selected_action": [suppression.pk]},
    )
    suppression.refresh_from_db()
    assert suppression.lifted_by == marketer
