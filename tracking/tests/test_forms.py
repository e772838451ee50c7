"""Forms: the hosted page, validation in the visitor's language, a submission
that names the visitor, spam guards, gated downloads."""

import datetime
import re

import pytest
import time_machine
from django.core.files.base import ContentFile

from leads.models import Consent, CustomField, Lead
from tracking import writer
from tracking.models import Event, Form, FormField, FormSubmission, Visitor

T0 = datetime.datetime(2026, 11, 20, 1, 0, tzinfo=datetime.UTC)


@pytest.fixture
def lead_form(site):
    CustomField.objects.create(key="timing", label="導入予定時期", type="choice",
                               choices=["3ヶ月以内", "半年以内", "未定"])  # fmt: skip
    form = Form.objects.create(
        name="資料請求フォーム", key="document-request", site=site, title_ja="資料請求",
        title_en="Request documents", tags=["資料請求"], min_fill_seconds=3,
    )  # fmt: skip
    for position, (field, label_ja, required) in enumerate(
        [("email", "メールアドレス", True), ("last_name", "姓", True), ("first_name", "名", False),
         ("company", "会社名", True), ("phone", "電話番号", False),
         ("custom.timing", "導入予定時期", False)]
    ):  # fmt: skip
        FormField.objects.create(form=form, field=field, label_ja=label_ja, required=required,
                                 position=position)  # fmt: skip
    return form


def started_token(client, form, **headers) -> str:
    html = client.get(f"/f/{form.key}/", **headers).content.decode()
    return re.search(r'name="started" value="([^"]+)"', html).group(1)


def submit(client, form, data, *, started=None, **extra):
    payload = {"started": started or started_token(client, form), **data}
    return client.post(f"/f/{form.key}/", payload, **extra)


GOOD = {"email": "Hanako@Sample.co.jp", "last_name": "佐藤", "first_name": "花子",
        "company": "株式会社サンプル", "custom.timing": "半年以内", "consent": "on",
        "s": "", "v": ""}  # fmt: skip


@pytest.mark.django_db
def test_hosted_form_speaks_japanese_or_english(client, lead_form):
    ja = client.get(f"/f/{lead_form.key}/").content.decode()
    assert "資料請求" in ja and "メールアドレス" in ja and "送信する" in ja
    en = client.get(f"/f/{lead_form.key}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Request documents" in en and "Submit" in en


@pytest.mark.django_db
def test_a_submission_names_the_visitor_and_keeps_their_history(client, lead_form, site):
    # given an anonymous visitor who read three pages
    with time_machine.travel(T0, tick=False):
        writer.write_batch([
            {"uid": f"00000000-0000-4000-8000-00000000000{i}", "type": "page_view",
             "occurred_at": (T0 - datetime.timedelta(minutes=10 - i)).isoformat(),
             "site_id": site.pk, "anon_id": "anon-7", "url": f"https://www.example.co.jp/p{i}",
             "properties": {}}
            for i in range(3)
        ])  # fmt: skip
        started = started_token(client, lead_form)
    # when they send the form 10 seconds later
    with time_machine.travel(T0 + datetime.timedelta(seconds=10), tick=False):
        response = submit(client, lead_form, {**GOOD, "s": site.key, "v": "anon-7"},
                          started=started)  # fmt: skip
    # then they see the thank-you message
    assert response.status_code == 200
    assert "お申し込みありがとうございました。" in response.content.decode()
    # and the lead exists with consent, tags, custom value, and its earlier pages
    lead = Lead.objects.get(email="hanako@sample.co.jp")
    assert lead.company_name == "株式会社サンプル" and lead.custom == {"timing": "半年以内"}
    assert list(lead.lead_tags.values_list("tag__name", flat=True)) == ["資料請求"]
    consent = lead.consents.get()
    assert consent.basis == Consent.Basis.FORM
    assert "v1" in consent.source_ref and "同意します" in consent.text_shown
    events = Event.objects.filter(lead_id=lead.pk)
    assert events.filter(type="page_view").count() == 3
    assert events.get(type="form_submit").properties["form"] == "document-request"
    assert Visitor.objects.get(anon_id="anon-7").lead == lead


@pytest.mark.django_db
def test_missing_and_invalid_fields_return_the_form_with_messages(client, lead_form):
    with time_machine.travel(T0, tick=False):
        started = started_token(client, lead_form)
    with time_machine.travel(T0 + datetime.timedelta(seconds=10), tick=False):
        response = submit(client, lead_form,
                          {**GOOD, "email": "not-an-email", "last_name": "",
                           "custom.timing": "来年"}, started=started)  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 400
    assert "有効なメールアドレスを入力してください。" in html
    assert "この項目は必須です。" in html
    assert 'value="株式会社サンプル"' in html  # what they typed is kept
    assert Lead.objects.count() == 0 and FormSubmission.objects.count() == 0


@pytest.mark.django_db
def test_honeypot_and_too_fast_submissions_are_refused(client, lead_form):
    with time_machine.travel(T0, tick=False):
        started = started_token(client, lead_form)
        too_fast = submit(client, lead_form, GOOD, started=started)
    assert too_fast.status_code == 400
    with time_machine.travel(T0 + datetime.timedelta(seconds=10), tick=False):
        bot = submit(client, lead_form, {**GOOD, "website": "http://spam"}, started=started)
    assert bot.status_code == 400
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_per_ip_rate_limit(client, lead_form, redis_client, monkeypatch):
    from tracking import form_submissions

    monkeypatch.setattr(form_submissions, "SUBMISSIONS_PER_IP_PER_HOUR", 1)
    lead_form.min_fill_seconds = 0
    lead_form.save()
    assert submit(client, lead_form, GOOD).status_code == 200
    second = submit(client, lead_form, {**GOOD, "email": "other@sample.co.jp"})
    assert second.status_code == 400
    assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_gated_asset_link_expires_and_records_a_download(client, lead_form, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    lead_form.asset.save("whitepaper.pdf", ContentFile(b"%PDF-1.4 whitepaper"))
    lead_form.min_fill_seconds = 0
    lead_form.asset_hours = 72
    lead_form.save()
    with time_machine.travel(T0, tick=False):
        response = submit(client, lead_form, GOOD)
        link = re.search(r'href="(http://testserver/f/[^"]+/asset/[^"]+/)"',
                         response.content.decode()).group(1)  # fmt: skip
    with time_machine.travel(T0 + datetime.timedelta(hours=71), tick=False):
        download = client.get(link)
        assert download.status_code == 200
        assert b"".join(download.streaming_content) == b"%PDF-1.4 whitepaper"
    assert Event.objects.filter(type="download").get().properties["gated"] is True
    with time_machine.travel(T0 + datetime.timedelta(hours=73), tick=False):
        assert client.get(link).status_code == 404
    assert client.get(f"/f/{lead_form.key}/asset/forged/").status_code == 404


@pytest.mark.django_db
def test_unknown_or_inactive_form_is_404(client, lead_form):
    lead_form.is_active = False
    lead_form.save()
    assert client.get(f"/f/{lead_form.key}/").status_code == 404
    assert client.get("/f/nope/").status_code == 404
