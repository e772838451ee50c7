"""Inside sales in a real headless Chromium: filter "not followed", assign a
lead to themselves with the keyboard, log a phone call with result
opportunity, and see the lead leave the filter and the counts change, all
without a page reload."""

import datetime

import pytest
from django.utils import timezone
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from leads.models import Lead
from scoring.hotlists.services import hot_list_materialize


def count(driver, key: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'[data-count="{key}"]').text


def row_names(driver) -> list[str]:
    return [row.find_element(By.TAG_NAME, "strong").text for row in
            driver.find_elements(By.CSS_SELECTOR, "#wb-rows tr")]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_inside_sales_assign_and_log_an_opportunity_without_reload(
    live_server, browser, hot_list, make_lead, inside
):
    # given this week's list of three; A did something most recently, so comes first
    now = timezone.now()
    for name, hours in (("A", 1), ("B", 2), ("C", 3)):
        make_lead(
            f"{name.lower()}@example.jp", last_name="リード", first_name=name,
            company_name=f"{name}工業株式会社", at=now - datetime.timedelta(hours=hours),
        )  # fmt: skip
    run = hot_list_materialize(hot_list=hot_list)
    assert run.member_count == 3

    driver = browser("ja")
    driver.get(f"{live_server.url}/admin/login/?next=/workbench/")
    driver.find_element(By.NAME, "username").send_keys("inside1")
    driver.find_element(By.NAME, "password").send_keys("pw-inside1")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The list re-renders after each answer: an element read mid-render is stale, retry.
    wait = WebDriverWait(driver, 10, ignored_exceptions=(StaleElementReferenceException,))
    wait.until(lambda d: len(row_names(d)) == 3)
    driver.execute_script("window.kzNoReload = 'still here';")

    # they show the leads nobody followed yet
    driver.find_element(By.CSS_SELECTOR, '[data-filter="not_followed"]').click()
    wait.until(lambda d: "wb-on" in d.find_element(
        By.CSS_SELECTOR, '[data-filter="not_followed"]').get_attribute("class"))  # fmt: skip
    assert count(driver, "not_followed") == "3" and count(driver, "mine") == "0"
    assert row_names(driver) == ["リード A", "リード B", "リード C"]

    # j selects the first lead and opens its panel; a assigns it to them
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys("j")
    wait.until(lambda d: d.find_element(By.ID, "wb-p-name").text == "リード A")
    assert "A工業株式会社" in driver.find_element(By.ID, "wb-p-contact").text
    body.send_keys("a")
    wait.until(lambda d: count(d, "mine") == "1")
    wait.until(lambda d: "鈴木 一郎" in d.find_element(By.CSS_SELECTOR, "#wb-rows tr").text)
    assert Lead.objects.get(email="a@example.jp").owner == inside

    # l jumps to the activity form; they log the call: phone, opportunity
    body.send_keys("l")
    form = driver.find_element(By.ID, "wb-activity")
    assert driver.switch_to.active_element.get_attribute("name") == "type"
    form.find_element(By.CSS_SELECTOR, 'input[name="type"][value="phone"]').click()
    form.find_element(By.NAME, "content").send_keys("決裁者とデモ日程を調整")
    # saved without a result: the panel says so and keeps what was typed
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    error = driver.find_element(By.ID, "wb-activity-error")
    wait.until(lambda d: error.is_displayed() and error.text)
    assert form.find_element(By.NAME, "content").get_attribute("value") == "決裁者とデモ日程を調整"
    assert count(driver, "not_followed") == "3"
    form.find_element(By.CSS_SELECTOR, 'input[name="result"][value="opportunity"]').click()
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    # the lead leaves "not followed" and the counts change, with no reload
    wait.until(lambda d: count(d, "not_followed") == "2")
    wait.until(lambda d: row_names(d) == ["リード B", "リード C"])
    assert count(driver, "all") == "3"
    assert driver.execute_script("return window.kzNoReload") == "still here"
    # the panel shows the call at the top of the lead's activities
    wait.until(lambda d: "決裁者とデモ日程を調整" in d.find_element(By.ID, "wb-p-activities").text)
    # and in "all" it shows as an opportunity waiting for the SFA handoff
    driver.find_element(By.CSS_SELECTOR, '[data-filter="all"]').click()
    wait.until(lambda d: len(row_names(d)) == 3)
    wait.until(
        lambda d: any(
            word in d.find_element(By.CSS_SELECTOR, "#wb-rows tr").text
            for word in ("商談化", "Opportunity")
        )
    )
    lead = Lead.objects.get(email="a@example.jp")
    assert lead.stage == "consideration"
    assert run.members.get(lead=lead).handoff == "pending"
