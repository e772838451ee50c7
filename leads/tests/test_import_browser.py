"""In a real browser: upload, map, start; the status page's progress bar
follows a real worker and the result appears without reloading by hand."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from leads.imports.services import INLINE_MAX_ROWS
from leads.models import ImportJob, Lead

ROWS = INLINE_MAX_ROWS + 200


@pytest.fixture
def marketer(transactional_db):
    user = get_user_model().objects.create_user("marketer", password="kizuki-pass", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketer"))
    return user


def test_progress_bar_follows_the_worker_to_the_result(
    live_server, browser, marketer, celery_worker_process, tmp_path
):
    # given a worker, a list of business cards with one bad row, and a marketer
    celery_worker_process("default")
    lines = ["メールアドレス,氏名"] + [f"u{i}@acme.co.jp,山田 太郎{i}" for i in range(ROWS)]
    lines[5] = "broken,壊れた 行"  # line 6 of the file
    path = tmp_path / "名刺.csv"
    path.write_bytes("\r\n".join(lines).encode("cp932"))
    driver = browser("en")
    driver.get(f"{live_server.url}/admin/login/?next=/admin/leads/importjob/add/")
    driver.find_element("name", "username").send_keys("marketer")
    driver.find_element("name", "password").send_keys("kizuki-pass")
    driver.find_element("css selector", "input[type=submit]").click()

    # when the file is uploaded and the suggested mapping started
    driver.find_element("name", "file").send_keys(str(path))
    driver.find_element("css selector", "#import-upload-form input[type=submit]").click()
    assert "Rejected" in driver.find_element("id", "import-preview").text
    driver.find_element("name", "start").click()

    # then the status page shows the bar moving and, once done, the result
    assert driver.find_element("id", "import-progress")
    deadline = time.monotonic() + 120
    while not driver.find_elements("id", "import-rejected-rows"):
        assert time.monotonic() < deadline, driver.find_element("id", "import-status").text
        time.sleep(0.2)
    assert driver.find_element("id", "import-progress").get_attribute("value") == "100"
    assert driver.find_element("id", "import-created").text == str(ROWS - 1)
    assert driver.find_element("id", "import-rejected-rows").text.splitlines()[1].startswith("6 ")
    assert Lead.objects.count() == ROWS - 1
    assert ImportJob.objects.get().state == ImportJob.State.DONE
    driver.save_screenshot(str(tmp_path / "status.png"))
