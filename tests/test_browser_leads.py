"""A marketer opens a lead in a real headless Chromium, logs a phone call and
sees it at the top of the lead's timeline."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

PASSWORD = "kizuki-browser-pass"


@pytest.fixture
def marketer(transactional_db):
    from django.contrib.auth.models import Group

    from ma_core.roles import sync_role_permissions

    user = get_user_model().objects.create_user(
        "lead-marketer", password=PASSWORD, is_staff=True, last_name="佐藤", first_name="花子"
    )
    user.groups.add(Group.objects.get_or_create(name="Marketer")[0])
    sync_role_permissions()
    return user


@pytest.fixture
def lead(transactional_db, marketer):
    from leads.models import ActivityChoice, Lead
    from leads.services import activity_create, tags_add_bulk

    # A transactional test starts from an emptied database: the seed choices
    # of the data migration may be gone, so the ones used here are ensured.
    for kind, code, label in (
        ("type", "mail", "メール"),
        ("type", "phone", "電話"),
        ("result", "continue", "継続フォロー"),
        ("result", "opportunity", "商談化"),
    ):
        ActivityChoice.objects.get_or_create(kind=kind, code=code, defaults={"label": label})
    lead = Lead.objects.create(
        email="k.tanaka@toho-seimitsu.example.co.jp",
        last_name="田中",
        first_name="健太",
        company_name="東邦精密工業株式会社",
        created_at=timezone.now() - datetime.timedelta(days=30),
    )
    activity_create(
        lead=lead,
        type="mail",
        result="continue",
        content="事例資料を送付",
        occurred_at=timezone.now() - datetime.timedelta(days=3),
        actor=marketer,
    )
    tags_add_bulk(lead_ids=[lead.pk], names=["展示会2026"], actor_kind="import")
    lead.tag_changes.update(occurred_at=timezone.now() - datetime.timedelta(days=20))
    return lead


def test_a_marketer_logs_a_call_and_sees_it_first_on_the_timeline(live_server, browser, lead):
    driver = browser("ja")
    driver.get(f"{live_server.url}/admin/login/?next=/admin/leads/lead/{lead.pk}/change/")
    driver.find_element("name", "username").send_keys("lead-marketer")
    driver.find_element("name", "password").send_keys(PASSWORD)
    driver.find_element("css selector", "input[type=submit]").click()

    # the lead page shows the person, last name first, and their history
    first_entry = driver.find_element("css selector", "#kz-timeline li")
    assert "田中 健太" in driver.find_element("id", "content").text
    assert "メール" in first_entry.text

    # they log the call they just made
    form = driver.find_element("id", "kz-activity-form")
    Select(form.find_element("name", "type")).select_by_visible_text("電話")
    Select(form.find_element("name", "result")).select_by_visible_text("商談化")
    form.find_element("name", "content").send_keys("決裁者と来週のデモ日程を調整")
    form.find_element("css selector", "button[type=submit]").click()

    # and it is the newest entry of the timeline
    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("#timeline"))
    entries = driver.find_elements("css selector", "#kz-timeline li")
    assert "電話" in entries[0].text
    assert "商談化" in entries[0].text
    assert "決裁者と来週のデモ日程を調整" in entries[0].text
    assert "佐藤 花子" in entries[0].text
    assert "メール" in entries[1].text
    assert driver.current_url.endswith(f"/admin/leads/lead/{lead.pk}/change/#timeline")
