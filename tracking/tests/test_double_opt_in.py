"""Double opt-in: the consent given on the form waits for the click in the
confirmation mail; the click grants it, adds the consent tags, identifies the
browser and shows on the timeline; expired or changed links get a clear page
that offers a new mail."""

import datetime
import email
import re
from email.policy import default as default_policy

import pytest
import time_machine

from leads.models import Lead
from leads.timeline import lead_timeline
from tracking import writer
from tracking.double_opt_in import double_opt_in_mail_send, double_opt_in_mails_redeliver
from tracking.models import (
    DoubleOptIn,
    DoubleOptInMail,
    Event,
    Form,
    FormField,
    Identification,
    Visitor,
)

T0 = datetime.datetime(2026, 11, 20, 1, 0, tzinfo=datetime.UTC)
GOOD = {"email": "Hanako@Sample.co.jp", "last_name": "佐藤", "company": "株式会社サンプル",
        "consent": "on"}  # fmt: skip


@pytest.fixture
def optin_form(site):
    site.sender_name = "株式会社キヅキ"
    site.sender_email = "info@kizuki.example.jp"
    site.mail_footer_ja = "株式会社キヅキ 東京都千代田区丸の内1-1-1 TEL 03-0000-0000"
    site.mail_footer_en = "Kizuki Inc., 1-1-1 Marunouchi, Tokyo, +81-3-0000-0000"
    site.save()
    form = Form.objects.create(
        name="ホワイトペーパー", key="whitepaper", site=site, title_ja="ホワイトペーパー請求",
        title_en="Whitepaper request", tags=["資料請求"], consent_tags=["メルマガ購読"],
        min_fill_seconds=0, double_opt_in=True, double_opt_in_hours=48,
    )  # fmt: skip
    for position, field in enumerate(["email", "last_name", "company"]):
        FormField.objects.create(form=form, field=field, required=True, position=position)
    return form


@pytest.fixture
def smtp_settings(settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.PUBLIC_URL = "http://testserver"
    return smtp_server


def submit(client, form, data, **extra):
    html = client.get(f"/f/{form.key}/", **extra).content.decode()
    started = re.search(r'name="started" value="([^"]+)"', html).group(1)
    return client.post(f"/f/{form.key}/", {"started": started, **data}, **extra)


def send_queued_mails() -> None:
    for mail_id in DoubleOptInMail.objects.filter(state="queued").values_list("pk", flat=True):
        double_opt_in_mail_send(mail_id)


def received(sink) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(m.content, policy=default_policy) for m in sink.messages]


def link_in(message) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(r"http://testserver(/f/\S+/confirm/\S+/)", text).group(1)


@pytest.mark.django_db
def test_submission_waits_for_confirmation_and_the_click_grants_consent(
    client, optin_form, site, smtp_settings
):
    # given an anonymous visitor with two page views
    writer.write_batch([
        {"uid": f"00000000-0000-4000-8000-00000000001{i}", "type": "page_view",
         "occurred_at": (T0 - datetime.timedelta(minutes=5 - i)).isoformat(),
         "site_id": site.pk, "anon_id": "anon-do", "url": f"https://www.example.co.jp/p{i}",
         "properties": {}}
        for i in range(2)
    ])  # fmt: skip

    # when they send the double opt-in form in Japanese
    response = submit(client, optin_form, {**GOOD, "s": site.key, "v": "anon-do"})

    # then the lead exists with the form's tags, but no consent, no consent tag,
    # and the browser is not tied to it yet
    assert response.status_code == 200
    assert "リンクをクリック" in response.content.decode()
    lead = Lead.objects.get(email="hanako@sample.co.jp")
    assert list(lead.lead_tags.values_list("tag__name", flat=True)) == ["資料請求"]
    assert not lead.consents.exists()
    opt_in = DoubleOptIn.objects.get()
    assert (opt_in.state, opt_in.language, opt_in.lead) == ("pending", "ja", lead)
    assert Visitor.objects.get(anon_id="anon-do").lead is None
    assert Event.objects.filter(lead_id=lead.pk, type="page_view").count() == 0
    submitted = Event.objects.get(type="form_submit")
    assert submitted.properties["double_opt_in"] == "pending"

    # when the worker sends the confirmation mail
    send_queued_mails()

    # then one Japanese mail arrives from the site's sender, with its footer
    [message] = received(smtp_settings)
    assert message["To"] == "hanako@sample.co.jp"
    assert "info@kizuki.example.jp" in message["From"] and "株式会社キヅキ" in message["From"]
    assert message["Subject"].strip() == "メールアドレスのご確認（ホワイトペーパー請求）"
    text = message.get_body(("plain",)).get_content()
    assert "佐藤 様" in text and "48時間" in text and "東京都千代田区丸の内1-1-1" in text
    assert message["Message-ID"] == DoubleOptInMail.objects.get().message_id
    assert DoubleOptInMail.objects.get().state == "sent"

    # when the visitor opens the link, the page asks; the button confirms
    link = link_in(message)
    page = client.get(link)
    assert page.status_code == 200 and 'data-state="ask"' in page.content.decode()
    assert not lead.consents.exists()  # a mail scanner opening the link confirms nothing
    done = client.post(link, {"action": "confirm"}, HTTP_USER_AGENT="Mozilla/5.0 Test")
    assert done.status_code == 200
    assert "メールアドレスの確認が完了しました" in done.content.decode()

    # then the consent is granted, with when and how
    opt_in.refresh_from_db()
    assert opt_in.state == "confirmed" and opt_in.confirmed_at is not None
    assert opt_in.confirmed_user_agent == "Mozilla/5.0 Test"
    consent = lead.consents.get()
    assert "double opt-in" in consent.source_ref and "v1" in consent.source_ref
    assert consent.obtained_at == opt_in.confirmed_at
    assert "同意します" in consent.text_shown
    # and the consent tag is added, the browser identified with its history
    assert set(lead.lead_tags.values_list("tag__name", flat=True)) == {"資料請求", "メルマガ購読"}
    assert Visitor.objects.get(anon_id="anon-do").lead == lead
    assert Identification.objects.get().method == "double_opt_in"
    assert Event.objects.filter(lead_id=lead.pk, type="page_view").count() == 2
    confirmed = Event.objects.get(type="double_opt_in_confirmed")
    assert confirmed.lead_id == lead.pk
    titles = [entry.title for entry in lead_timeline(lead.pk).entries]
    assert "メールアドレスを確認しました（ダブルオプトイン、「ホワイトペーパー」）" in titles

    # when the link is used again, nothing happens twice
    again = client.post(link, {"action": "confirm"})
    assert 'data-state="already"' in again.content.decode()
    assert lead.consents.count() == 1 and Identification.objects.count() == 1


@pytest.mark.django_db
def test_english_visitor_gets_an_english_mail(client, optin_form, site, smtp_settings):
    submit(client, optin_form, GOOD, HTTP_ACCEPT_LANGUAGE="en")
    send_queued_mails()
    [message] = received(smtp_settings)
    assert message["Subject"].strip() == "Please confirm your email address (Whitepaper request)"
    text = message.get_body(("plain",)).get_content()
    assert "Dear 佐藤," in text and "valid for 48 hours" in text
    assert "Kizuki Inc., 1-1-1 Marunouchi" in text
    page = client.get(link_in(message)).content.decode()
    assert "Confirm my email address" in page


@pytest.mark.django_db
def test_without_consent_ticked_the_form_works_as_usual(client, optin_form, site):
    submit(client, optin_form, {**GOOD, "consent": "", "s": site.key, "v": "anon-x"})
    lead = Lead.objects.get()
    assert not DoubleOptIn.objects.exists() and not DoubleOptInMail.objects.exists()
    assert not lead.consents.exists()
    assert list(lead.lead_tags.values_list("tag__name", flat=True)) == ["資料請求"]
    assert Visitor.objects.get(anon_id="anon-x").lead == lead


@pytest.mark.django_db
def test_single_opt_in_form_adds_consent_tags_at_once(client, optin_form):
    optin_form.double_opt_in = False
    optin_form.save()
    submit(client, optin_form, GOOD)
    lead = Lead.objects.get()
    assert lead.consents.count() == 1 and not DoubleOptIn.objects.exists()
    assert set(lead.lead_tags.values_list("tag__name", flat=True)) == {"資料請求", "メルマガ購読"}


@pytest.mark.django_db
def test_link_expires_at_the_forms_validity_and_offers_a_new_mail(
    client, optin_form, smtp_settings
):
    # given a mail sent at T0 with a link valid 48 hours
    with time_machine.travel(T0, tick=False):
        submit(client, optin_form, GOOD)
        send_queued_mails()
    link = link_in(received(smtp_settings)[0])
    lead = Lead.objects.get()

    # at 47:59:59 the link still works
    with time_machine.travel(T0 + datetime.timedelta(hours=48, seconds=-1), tick=False):
        assert 'data-state="ask"' in client.get(link).content.decode()
    # one second past 48 hours it has expired: a clear page, no consent, a resend button
    with time_machine.travel(T0 + datetime.timedelta(hours=48, seconds=1), tick=False):
        expired = client.get(link)
        assert expired.status_code == 410
        assert "確認リンクの有効期限が切れています" in expired.content.decode()
        refused = client.post(link, {"action": "confirm"})
        assert refused.status_code == 410 and not lead.consents.exists()

        # when they ask for a new mail
        resent = client.post(link, {"action": "resend"})
        assert 'data-state="resent"' in resent.content.decode()
        send_queued_mails()
    # then a second mail with a fresh link arrives, and that link confirms
    assert list(DoubleOptInMail.objects.order_by("number").values_list("number", "state")) == [
        (1, "sent"), (2, "sent")
    ]  # fmt: skip
    fresh = link_in(received(smtp_settings)[1])
    with time_machine.travel(T0 + datetime.timedelta(hours=49), tick=False):
        assert client.post(fresh, {"action": "confirm"}).status_code == 200
    assert lead.consents.count() == 1


@pytest.mark.django_db
def test_resends_are_spaced_and_limited(client, optin_form, smtp_settings):
    with time_machine.travel(T0, tick=False):
        submit(client, optin_form, GOOD)
        send_queued_mails()
    link = link_in(received(smtp_settings)[0])
    with time_machine.travel(T0 + datetime.timedelta(minutes=1), tick=False):
        too_soon = client.post(link, {"action": "resend"})
    assert 'data-state="resend_refused"' in too_soon.content.decode()
    for minutes in (3, 6, 9, 12, 15):
        with time_machine.travel(T0 + datetime.timedelta(minutes=minutes), tick=False):
            client.post(link, {"action": "resend"})
    assert DoubleOptInMail.objects.count() == 5  # the first and four resends


@pytest.mark.django_db
def test_tampered_link_shows_a_page_that_resends_by_address(
    client, optin_form, smtp_settings, redis_client
):
    with time_machine.travel(T0, tick=False):
        submit(client, optin_form, GOOD)
        send_queued_mails()
    link = link_in(received(smtp_settings)[0])
    forged = link[:-6] + "AAAAA/"

    page = client.get(forged)
    assert page.status_code == 400
    html = page.content.decode()
    assert "確認リンクが正しくありません" in html and 'name="email"' in html
    assert client.post(forged, {"action": "confirm"}).status_code == 400
    assert client.get(f"/f/{optin_form.key}/confirm/garbage/").status_code == 400
    assert not Lead.objects.get().consents.exists()

    with time_machine.travel(T0 + datetime.timedelta(hours=1), tick=False):
        asked = client.post(f"/f/{optin_form.key}/confirm/", {"email": "HANAKO@sample.co.jp"})
        unknown = client.post(f"/f/{optin_form.key}/confirm/", {"email": "nobody@x.jp"})
    # the same answer whether or not the address waits for a confirmation
    assert asked.content == unknown.content and asked.status_code == 200
    assert DoubleOptInMail.objects.count() == 2


@pytest.mark.django_db
def test_a_link_for_another_form_is_not_valid(client, optin_form, smtp_settings):
    submit(client, optin_form, GOOD)
    send_queued_mails()
    link = link_in(received(smtp_settings)[0])
    other = Form.objects.create(name="別フォーム", key="other", site=optin_form.site)
    assert client.get(link.replace("/whitepaper/", "/other/")).status_code == 400
    assert other.double_opt_ins.count() == 0


@pytest.mark.django_db
def test_mail_is_sent_once_when_the_task_runs_twice(
    client, optin_form, smtp_settings, redis_client
):
    submit(client, optin_form, GOOD)
    mail = DoubleOptInMail.objects.get()
    assert double_opt_in_mail_send(mail.pk) is True
    assert double_opt_in_mail_send(mail.pk) is False
    # and the sweeper finds nothing to hand out again, even much later
    with time_machine.travel(datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=2)):
        assert double_opt_in_mails_redeliver() == 0
    assert len(smtp_settings.messages) == 1


@pytest.mark.django_db
def test_a_refused_send_goes_back_to_the_queue_and_the_sweeper_retries_it(
    client, optin_form, settings, smtp_server, redis_client
):
    from conftest import free_port

    # given an SMTP server that is not there
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    with time_machine.travel(T0, tick=False):
        submit(client, optin_form, GOOD)
        mail = DoubleOptInMail.objects.get()
        assert double_opt_in_mail_send(mail.pk) is False
    mail.refresh_from_db()
    assert (mail.state, mail.attempts) == ("queued", 1)

    # when the server is back and the sweeper runs a few minutes later
    settings.EMAIL_PORT = smtp_server.port
    with time_machine.travel(T0 + datetime.timedelta(minutes=1), tick=False):
        assert double_opt_in_mails_redeliver() == 0  # not yet: it just failed
    with time_machine.travel(T0 + datetime.timedelta(minutes=3), tick=False):
        # the sweeper enqueues; here the enqueued task is run directly
        assert double_opt_in_mails_redeliver() == 1
        assert double_opt_in_mail_send(mail.pk) is True
    assert len(smtp_server.messages) == 1
