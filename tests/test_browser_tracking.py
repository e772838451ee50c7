"""The snippet in a real headless Chromium on a customer's page (another origin):
page views, an embedded form that names the visitor, a popup on the third
visit, and a personalized slot for a returning visitor."""

import datetime
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from leads.models import Lead
from tracking import writer
from tracking.models import Event, Form, FormField, Popup, Site, Slot, SlotVariant, Visit, Visitor

PAGES: dict[str, str] = {}


class CustomerSite(BaseHTTPRequestHandler):
    def do_GET(self):
        body = PAGES.get(self.path.split("?")[0], "<h1>404</h1>").encode()
        self.send_response(200 if self.path.split("?")[0] in PAGES else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def customer_site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), CustomerSite)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()


def page(title: str, live_server_url: str, site_key: str, body: str = "") -> str:
    return (
        f"<!DOCTYPE html><html lang='ja'><head><meta charset='utf-8'><title>{title}</title>"
        f'<script async src="{live_server_url}/t.js?s={site_key}" '
        f'data-kizuki-site="{site_key}"></script></head><body><h1>{title}</h1>{body}</body></html>'
    )


def drained_until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        writer.drain()
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_snippet_form_popup_and_slot_in_chromium(live_server, browser, customer_site,
                                                redis_client):  # fmt: skip
    # given a site, a form, a popup for the third visit in five days, and a slot
    site = Site.objects.create(name="コーポレート", domains=["localhost"])
    form = Form.objects.create(name="資料請求", key="docs", site=site, title_ja="資料請求",
                               min_fill_seconds=0, tags=["資料請求"])  # fmt: skip
    FormField.objects.create(form=form, field="email", label_ja="メールアドレス", required=True)
    FormField.objects.create(form=form, field="last_name", label_ja="姓", position=1)
    Popup.objects.create(name="3回訪問", min_visits=3, within_days=5, title_ja="ウェビナーのご案内",
                         body_ja="来週のウェビナーにご参加ください",
                         cta_label_ja="申し込む", cta_url="https://example.jp/webinar")  # fmt: skip
    slot = Slot.objects.create(name="hero")
    SlotVariant.objects.create(slot=slot, rule="returning", html_ja="<b>おかえりなさい</b>")
    SlotVariant.objects.create(slot=slot, rule="default", html_ja="<b>はじめまして</b>",
                               position=1)  # fmt: skip
    url = live_server.url
    PAGES["/pricing"] = page("料金", url, site.key, '<div data-kizuki-slot="hero">…</div>')
    PAGES["/contact"] = page("お問い合わせ", url, site.key, '<div data-kizuki-form="docs"></div>')
    driver = browser("ja")

    # a page with the snippet records a page view; a first visit sees the default slot
    driver.get(f"{customer_site}/pricing?utm_source=newsletter&utm_medium=email")
    WebDriverWait(driver, 10).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-kizuki-slot]"), "はじめまして")
    )
    assert drained_until(lambda: Event.objects.filter(type="page_view").exists())
    anon_id = driver.get_cookie("_kz_vid")["value"]
    visitor = Visitor.objects.get(anon_id=anon_id)
    assert visitor.lead_id is None

    # the embedded form renders and submits; the visitor becomes a lead
    driver.get(f"{customer_site}/contact")
    email = WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.NAME, "email")))
    email.send_keys("hanako@example.co.jp")
    driver.find_element(By.NAME, "last_name").send_keys("佐藤")
    driver.find_element(By.CSS_SELECTOR, "[data-kizuki-form] button[type=submit]").click()
    WebDriverWait(driver, 10).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-kizuki-form]"), "ありがとう")
    )
    lead = Lead.objects.get(email="hanako@example.co.jp")
    # and the earlier anonymous page view is now the lead's history
    assert drained_until(
        lambda: Event.objects.filter(lead_id=lead.pk, type="page_view").count() >= 2
    )
    assert Event.objects.filter(lead_id=lead.pk, url__contains="/pricing").exists()
    assert Event.objects.filter(lead_id=lead.pk, type="form_submit").exists()
    lead.refresh_from_db()
    assert lead.first_touch_source == "newsletter / email"

    # given two earlier visits in the last five days, a new visit is the third
    now = timezone.now()
    Visit.objects.filter(visitor=visitor).update(
        started_at=now - datetime.timedelta(days=2), last_event_at=now - datetime.timedelta(days=2)
    )
    Visit.objects.create(visitor=visitor, lead=lead, started_at=now - datetime.timedelta(days=1),
                         last_event_at=now - datetime.timedelta(days=1))  # fmt: skip
    Visitor.objects.filter(pk=visitor.pk).update(visit_count=2)
    driver.execute_script("window.sessionStorage.clear()")
    driver.get(f"{customer_site}/pricing")
    popup = WebDriverWait(driver, 10).until(
        EC.visibility_of_element_located((By.CSS_SELECTOR, ".kz-popup"))
    )
    assert "ウェビナーのご案内" in popup.text
    # and the returning visitor sees the returning content in the slot
    assert "おかえりなさい" in driver.find_element(By.CSS_SELECTOR, "[data-kizuki-slot]").text
    # closing the popup keeps it closed on the next page
    driver.find_element(By.CSS_SELECTOR, "[data-kizuki-close]").click()
    WebDriverWait(driver, 5).until(
        EC.invisibility_of_element_located((By.CSS_SELECTOR, ".kz-popup"))
    )
    WebDriverWait(driver, 5).until(
        lambda d: visitor.popup_states.filter(closed_at__isnull=False).exists()
    )
