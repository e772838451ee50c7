"""The two ways a mail leaves: on Django's SMTP backend the dispatcher writes
the MIME message itself, on any other backend (django-anymail's ESPs) it
hands over Django's EmailMultiAlternatives; both carry the same mail. A
dispatcher run outside a transaction hands batches over from sender threads
while it prepares the next, and still sends each mail once."""

from __future__ import annotations

import email
import email.policy
import email.utils
from collections import Counter

import pytest
from django.core import mail
from django.db import connection

from scenarios import sending
from scenarios.mime import SmtpMessages, encode_header
from scenarios.models import Send
from scenarios.rendering import RenderedMail
from scenarios.services import newsletter_schedule, newsletters_materialize_due

from .conftest import consenting_lead, html_part, newsletter_to, received, text_part

RENDERED = RenderedMail(
    subject="株式会社アクメ 佐藤 様へ: とても長い件名がここに続きます。"
    "資料Aのご案内と導入事例のお知らせ",
    html="<!DOCTYPE html><html><body><p>" + "本文 = 100% " * 200 + "</p>\n<p>.</p></body></html>",
    text="佐藤 様\n\n.\n本文 = 100%\n\n-- \n配信停止: https://kizuki.example.co.jp/m/u/1:x/\n",
    links=[],
)


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


@pytest.mark.django_db
def test_the_written_message_is_the_django_message(profile):
    profile.reply_to = "support@kizuki.example.co.jp"
    unsubscribe = "https://kizuki.example.co.jp/m/u/1:abc/"
    writer = SmtpMessages(
        from_email=f"{profile.from_name} <{profile.from_email}>", reply_to=profile.reply_to
    )
    ours = parse(
        writer.build(
            subject=RENDERED.subject, text=RENDERED.text, html=RENDERED.html,
            to="lead@example.co.jp", message_id="<t1@kizuki.example.co.jp>",
            unsubscribe_url=unsubscribe,
        )
    )  # fmt: skip
    django_message = sending.build_message(
        rendered=RENDERED, to="lead@example.co.jp", profile=profile,
        unsubscribe_url=unsubscribe, message_id="<t1@kizuki.example.co.jp>",
    )  # fmt: skip
    theirs = parse(django_message.message().as_bytes(linesep="\r\n"))

    for header in ("Subject", "From", "To", "Reply-To", "Message-ID", "List-Unsubscribe",
                   "List-Unsubscribe-Post", "MIME-Version"):  # fmt: skip
        # (Django folds the subject onto the next line, which leaves a space)
        assert str(ours[header]).strip() == str(theirs[header]).strip(), header
    assert ours.get_content_type() == theirs.get_content_type() == "multipart/alternative"
    assert html_part(ours) == html_part(theirs)
    assert text_part(ours) == text_part(theirs)
    assert html_part(ours).replace("\r\n", "\n") == RENDERED.html
    assert text_part(ours).replace("\r\n", "\n") == RENDERED.text
    assert email.utils.parseaddr(writer.envelope_from)[1] == profile.from_email


def test_headers_are_encoded_words_of_whole_characters():
    value = "株式会社アクメ 佐藤 様へ: " * 4
    encoded = encode_header(value)
    assert all(len(line) <= 78 - len("Subject: ") for line in encoded.split("\r\n"))
    assert str(parse(f"Subject: {encoded}\r\n\r\n".encode())["Subject"]) == value
    assert encode_header("Hello") == "Hello"


@pytest.mark.django_db
def test_an_esp_backend_gets_the_django_message(profile, template, settings):
    # given a backend that is not Django's SMTP one (as django-anymail's are)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PUBLIC_URL = "https://kizuki.example.co.jp"
    leads = [consenting_lead(last_name="佐藤", first_name=""), consenting_lead()]
    newsletter_schedule(newsletter=newsletter_to(leads, template))
    newsletters_materialize_due()

    sending.sends_dispatch()

    # then each lead's mail went through it, footer, headers and all
    assert sorted(m.to[0] for m in mail.outbox) == sorted(lead.email for lead in leads)
    first = next(m for m in mail.outbox if m.to == [leads[0].email])
    assert first.extra_headers["List-Unsubscribe"].startswith("<https://kizuki.example.co.jp/m/u/")
    assert first.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = first.alternatives[0][0]
    assert "佐藤 ご担当者 様" in html and "東京都千代田区千代田1-1" in html
    assert "https://kizuki.example.co.jp/m/o/" in html
    assert "株式会社キヅキ マーケティング部" in first.body
    assert set(Send.objects.values_list("state", flat=True)) == {"sent"}


@pytest.mark.django_db
def test_a_claim_takes_no_more_than_its_limit_once_the_table_has_statistics(profile, template):
    # given a table whose statistics say nothing is pending (PostgreSQL then
    # plans "id IN (SELECT … LIMIT … SKIP LOCKED)" as a rescanned nested loop)
    leads = [consenting_lead() for _ in range(12)]
    newsletter_schedule(newsletter=newsletter_to(leads, template))
    newsletters_materialize_due()
    Send.objects.update(state="sent")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scenarios_send")
    Send.objects.update(state="pending")

    # then a claim of 5 claims 5
    assert len(sending.sends_claim_due(limit=5)) == 5
    assert Counter(Send.objects.values_list("state", flat=True)) == {"claimed": 5, "pending": 7}


@pytest.mark.django_db(transaction=True)
def test_a_run_outside_a_transaction_sends_each_mail_once_from_sender_threads(
    profile, template, smtp_settings, monkeypatch
):
    # given more batches than sender threads
    monkeypatch.setattr(sending, "BATCH_SIZE", 4)
    leads = [consenting_lead() for _ in range(19)]
    newsletter_schedule(newsletter=newsletter_to(leads, template))
    newsletters_materialize_due()

    # when one dispatcher run sends them
    totals = sending.sends_dispatch()

    # then every lead got one mail, and every row is marked sent
    assert totals["sent"] == 19 and totals["failed"] == 0
    assert Counter(m["To"] for m in received(smtp_settings)) == {x.email: 1 for x in leads}
    assert set(Send.objects.values_list("state", flat=True)) == {"sent"}
    assert Send.objects.filter(sent_at__isnull=True).count() == 0
    messages = received(smtp_settings)
    assert len({m["Message-ID"] for m in messages}) == 19
    assert all("https://kizuki.example.co.jp/m/o/" in html_part(m) for m in messages)


@pytest.mark.django_db(transaction=True)
def test_a_refused_mail_in_a_sender_thread_is_retried_not_lost(
    profile, template, smtp_settings, monkeypatch
):
    # given a mail server that refuses the second mail once
    monkeypatch.setattr(sending, "BATCH_SIZE", 2)
    leads = [consenting_lead() for _ in range(5)]
    newsletter_schedule(newsletter=newsletter_to(leads, template))
    newsletters_materialize_due()
    refused = leads[1].email
    real_send = sending._Handover.send

    def send(self, send, rendered, unsubscribe_url):
        if send.lead.email == refused and send.attempts == 1:
            raise OSError("452 try again later")
        return real_send(self, send, rendered, unsubscribe_url)

    monkeypatch.setattr(sending._Handover, "send", send)

    totals = sending.sends_dispatch()

    # then the others went, and the refused one waits for its retry
    assert totals["sent"] == 4 and totals["failed"] == 1
    row = Send.objects.get(lead=leads[1])
    assert row.state == "pending" and "452" in row.error
    assert refused not in [m["To"] for m in received(smtp_settings)]


@pytest.mark.django_db
def test_a_batch_is_read_in_a_fixed_number_of_queries(
    profile, template, smtp_settings, django_assert_max_num_queries
):
    leads = [consenting_lead() for _ in range(3)]
    newsletter_schedule(newsletter=newsletter_to(leads, template))
    newsletters_materialize_due()
    small = sending.sends_claim_due()
    with django_assert_max_num_queries(12) as few:
        sending._prepare_batch(small, sending.sender_profile())
    leads = [consenting_lead() for _ in range(30)]
    newsletter_schedule(newsletter=newsletter_to(leads, template, name="4月号"))
    newsletters_materialize_due()
    large = sending.sends_claim_due()
    with django_assert_max_num_queries(len(few.captured_queries)):
        ready = sending._prepare_batch(large, sending.sender_profile())
    assert len(ready) == 30


@pytest.mark.django_db(transaction=True)
def test_a_mail_server_that_is_down_stops_the_run_and_leaves_every_row_to_send_later(
    profile, template, smtp_settings, settings, monkeypatch
):
    # given a mail server that refuses connections
    from conftest import free_port

    settings.EMAIL_PORT = free_port()
    monkeypatch.setattr(sending, "BATCH_SIZE", 3)
    leads = [consenting_lead() for _ in range(7)]
    newsletter_schedule(newsletter=newsletter_to(leads, template))
    newsletters_materialize_due()

    # when the dispatcher runs, it fails …
    with pytest.raises(OSError):
        sending.sends_dispatch()

    # … and nothing was sent, nothing is left claimed or counted for the cap
    assert received(smtp_settings) == []
    assert set(Send.objects.values_list("state", "handed_at")) == {("pending", None)}
