"""A person logs in to the admin in a real headless Chromium."""

import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def marketer(transactional_db):
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(
        "marketer", password="kizuki-browser-pass", is_staff=True, last_name="佐藤"
    )
    user.groups.add(Group.objects.get_or_create(name="Marketer")[0])
    from ma_core.roles import sync_role_permissions

    sync_role_permissions()
    return user


@pytest.mark.parametrize(
    ("language", "heading", "log_out"),
    [("ja", "Kizuki 管理画面", "ログアウト"), ("en", "Kizuki administration", "Log out")],
)
def test_admin_login_in_the_browsers_language(live_server, browser, marketer, language, heading,
                                               log_out):  # fmt: skip
    driver = browser(language)
    driver.get(f"{live_server.url}/admin/")
    driver.find_element("name", "username").send_keys("marketer")
    driver.find_element("name", "password").send_keys("kizuki-browser-pass")
    driver.find_element("css selector", "input[type=submit]").click()
    # #user-tools exists only once logged in: the implicit wait covers the page load
    assert log_out.upper() in driver.find_element("id", "user-tools").text.upper()
    assert driver.find_element("id", "site-name").text == heading
    # the home page links onward
    driver.get(f"{live_server.url}/")
    assert "佐藤" in driver.page_source
    assert driver.find_element("css selector", "a[href='/admin/']")


def test_wrong_password_is_refused_with_a_message(live_server, browser, marketer):
    driver = browser("ja")
    driver.get(f"{live_server.url}/admin/login/")
    driver.find_element("name", "username").send_keys("marketer")
    driver.find_element("name", "password").send_keys("wrong")
    driver.find_element("css selector", "input[type=submit]").click()
    # the implicit wait finds the message once the answer page has loaded
    error = driver.find_element("css selector", ".errornote")
    assert "正しいユーザー名とパスワードを入力してください" in error.text
