"""In a real headless Chromium: the segment form counts as the marketer types."""

import pytest
from django.contrib.auth import get_user_model
from selenium.webdriver.support.ui import WebDriverWait

from leads.models import Segment
from leads.services import tags_change
from leads.tests.factories import LeadFactory


@pytest.fixture
def marketer(transactional_db):
    from django.contrib.auth.models import Group

    from ma_core.roles import sync_role_permissions

    user = get_user_model().objects.create_user(
        "marketer", password="kizuki-browser-pass", is_staff=True
    )
    user.groups.add(Group.objects.get_or_create(name="Marketer")[0])
    sync_role_permissions()
    return user


def test_live_count_follows_the_expression_being_typed(live_server, browser, marketer):
    # given: two leads tagged 失注, one of them also 展示会
    lost, both = LeadFactory(email="lost@example.jp"), LeadFactory(email="both@example.jp")
    tags_change(lead=lost, add=["失注"], actor_kind="user")
    tags_change(lead=both, add=["失注", "展示会"], actor_kind="user")
    segment = Segment.objects.create(
        name="失注",
        expression="1",
        blocks={
            "1": {"kind": "tag", "op": "has", "value": "失注"},
            "2": {"kind": "tag", "op": "has", "value": "展示会"},
        },
    )
    driver = browser("en")
    driver.get(f"{live_server.url}/admin/login/")
    driver.find_element("name", "username").send_keys("marketer")
    driver.find_element("name", "password").send_keys("kizuki-browser-pass")
    driver.find_element("css selector", "input[type=submit]").click()
    wait = WebDriverWait(driver, 20)
    wait.until(lambda d: "/admin/login/" not in d.current_url)  # logged in
    driver.get(f"{live_server.url}/admin/leads/segment/{segment.pk}/change/")

    def live_text(d) -> str:
        count = d.find_element("css selector", ".segment-live-count").text
        error = d.find_element("css selector", ".segment-live-error")
        return error.text if error.is_displayed() else count

    # then: the saved search is counted on load
    wait.until(lambda d: live_text(d).endswith(": 2"))
    # when the marketer types an unfinished expression, the error says where
    expression = driver.find_element("id", "id_expression")
    expression.send_keys(" AND NOT (2")
    wait.until(lambda d: "unbalanced parenthesis at 11" in live_text(d))
    # and once it is complete the count follows
    expression.send_keys(")")
    wait.until(lambda d: live_text(d).endswith(": 1"))
    assert "lost@example.jp" in driver.find_element("css selector", ".segment-live-preview").text
