"""The confirmation mail of a double opt-in form goes out exactly once, even
when the worker that claimed it is killed before it could send it."""

import datetime
import re
import socket
import threading

import pytest
import time_machine

from ma_core.testing.waiting import wait_until
from tracking.double_opt_in import double_opt_in_mails_redeliver
from tracking.models import DoubleOptInMail, Form, FormField
from tracking.tasks import send_double_opt_in_mail


class SilentSmtp:
    """A TCP server on loopback that accepts connections and never greets: an
    SMTP client connected to it waits, after its claim, before sending."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self) -> None:
        for conn in self.connections:
            conn.close()
        self.sock.close()


def mail_state() -> str | None:
    return DoubleOptInMail.objects.values_list("state", flat=True).first()


@pytest.fixture
def optin_form(site):
    site.sender_name, site.mail_footer_ja = "株式会社キヅキ", "東京都千代田区丸の内1-1-1"
    site.save()
    form = Form.objects.create(
        name="資料請求", key="docs", site=site, min_fill_seconds=0, double_opt_in=True
    )
    FormField.objects.create(form=form, field="email", required=True)
    return form


@pytest.mark.django_db(transaction=True)
def test_worker_killed_between_claim_and_send_the_mail_goes_out_once(
    client, optin_form, smtp_server, celery_worker_process
):
    silent = SilentSmtp()
    try:
        # given a worker whose SMTP server never answers
        worker = celery_worker_process("mail", env={"EMAIL_URL": f"smtp://127.0.0.1:{silent.port}"})
        # when a visitor sends the double opt-in form (the task is enqueued on commit)
        html = client.get(f"/f/{optin_form.key}/").content.decode()
        started = re.search(r'name="started" value="([^"]+)"', html).group(1)
        response = client.post(
            f"/f/{optin_form.key}/",
            {"started": started, "email": "taro@example.co.jp", "consent": "on"},
        )
        assert response.status_code == 200
        # and the worker has claimed the mail and is connecting to send it
        wait_until(lambda: mail_state() == "sending" and silent.connections)

        # when the worker is killed (SIGKILL, as a crashed machine) before sending
        worker.kill()

        # then the claim is left, nothing was sent
        mail = DoubleOptInMail.objects.get()
        assert (mail.state, mail.attempts, mail.sent_at) == ("sending", 1, None)
        assert smtp_server.messages == []
    finally:
        silent.close()

    # given a healthy worker
    celery_worker_process("mail", env={"EMAIL_URL": f"smtp://127.0.0.1:{smtp_server.port}"})
    # a sweep within the lease leaves the claim alone (its worker may be alive)
    assert double_opt_in_mails_redeliver() == 0
    # when the sweeper runs after the lease is over
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=11)
    with time_machine.travel(later):
        assert double_opt_in_mails_redeliver() == 1
    wait_until(lambda: mail_state() == "sent")

    # then exactly one mail arrived, with the Message-ID stored before the send
    mail.refresh_from_db()
    assert (mail.attempts, len(smtp_server.messages)) == (2, 1)
    assert smtp_server.messages[0].rcpt_tos == ["taro@example.co.jp"]
    assert f"Message-ID: {mail.message_id}" in smtp_server.messages[0].content.decode()

    # when the task is delivered again (a redelivery, a second sweep)
    stale = (later - datetime.timedelta(minutes=10)).isoformat()
    again = send_double_opt_in_mail.apply_async((mail.pk, stale), ignore_result=False)
    # then it sends nothing
    assert again.get(timeout=30) is False
    assert len(smtp_server.messages) == 1
