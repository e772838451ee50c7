"""The wire bytes of a marketing mail, for Django's SMTP backend.

``sending.build_message`` gives a Django ``EmailMultiAlternatives``, which
every backend takes (django-anymail's ESP backends read its fields). For the
SMTP backend that object only becomes bytes, through the email package's
generator and header folding, which cost more than rendering the mail. So on
that backend the dispatcher writes the same MIME message itself: the same
headers (From and Reply-To encoded by Django once per batch, the subject as
RFC 2047 words), multipart/alternative with the plain-text and HTML parts,
each 8bit unless a line is longer than SMTP allows, then quoted-printable, as
Django decides. A message it cannot write plainly (a recipient address that
is not plain ASCII, an address in the unsubscribe link that is not ASCII)
goes through ``build_message`` instead.
"""

from __future__ import annotations

import binascii
import random
import re
import smtplib
import time
from email.utils import formatdate, parseaddr

from django.conf import settings
from django.core.mail.message import forbid_multi_line_headers, sanitize_address

#: SMTP's limit on a line (RFC 5322 2.1.1), as Django's SafeMIMEText applies it.
LINE_LIMIT = 998
#: Bytes of UTF-8 per encoded word: "Subject: " + "=?utf-8?b?" + 56 + "?=" fits 78.
_WORD_BYTES = 42
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
)
_PLAIN_HEADER = re.compile(r"[\x21-\x7e]+")


def encode_header(value: str) -> str:
    """An unstructured header value: as it is when short plain ASCII, else
    base64 encoded words of whole characters, folded one per line."""
    if value.isascii() and len(value) <= 60 and "=?" not in value and value.isprintable():
        return value
    data = value.encode("utf-8")
    words = []
    start, end = 0, len(data)
    while start < end:
        stop = min(start + _WORD_BYTES, end)
        while stop < end and (data[stop] & 0xC0) == 0x80:  # not inside a character
            stop -= 1
        encoded = binascii.b2a_base64(data[start:stop], newline=False).decode("ascii")
        words.append(f"=?utf-8?b?{encoded}?=")
        start = stop
    return "\r\n ".join(words)


def _part(subtype: str, text: str) -> bytes:
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    if max(map(len, data.split(b"\n"))) > LINE_LIMIT:
        encoding = "quoted-printable"
        data = binascii.b2a_qp(data, istext=True)
    else:
        encoding = "8bit"
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nMIME-Version: 1.0\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode("ascii") + data.replace(b"\n", b"\r\n")


class SmtpMessages:
    """Writes the messages of one batch from one sender profile."""

    def __init__(self, *, from_email: str, reply_to: str | None) -> None:
        self.envelope_from = sanitize_address(from_email, "utf-8")
        #: The bare address smtplib would send in MAIL FROM (it parses it per mail).
        self.envelope_address = parseaddr(self.envelope_from)[1]
        headers = [f"From: {forbid_multi_line_headers('From', from_email, 'utf-8')[1]}"]
        if reply_to:
            headers.append(
                f"Reply-To: {forbid_multi_line_headers('Reply-To', reply_to, 'utf-8')[1]}"
            )
        self._sender_headers = "\r\n".join(
            header.replace("\r\n", "\n").replace("\n", "\r\n") for header in headers
        )
        self._date: tuple[int, str] = (0, "")

    @staticmethod
    def usable() -> bool:
        return settings.DEFAULT_CHARSET.lower().replace("-", "") == "utf8"

    def _date_header(self) -> str:
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, formatdate(now, localtime=settings.EMAIL_USE_LOCALTIME))
        return self._date[1]

    def build(
        self,
        *,
        subject: str,
        text: str,
        html: str,
        to: str,
        message_id: str,
        unsubscribe_url: str | None,
    ) -> bytes | None:
        """The message's bytes (CRLF line ends), or None when it must go the Django way."""
        if not (_PLAIN_ADDRESS.fullmatch(to) and _PLAIN_HEADER.fullmatch(message_id)):
            return None
        if unsubscribe_url is not None and not _PLAIN_HEADER.fullmatch(unsubscribe_url):
            return None
        try:
            parts = [_part("plain", text), _part("html", html)]
        except UnicodeEncodeError:  # a lone surrogate: let the email package say no
            return None
        while True:
            boundary = f"==============={random.randrange(1 << 63):019d}=="  # noqa: S311 - not a secret
            delimiter = f"--{boundary}".encode("ascii")
            if not any(delimiter in part for part in parts):
                break
        headers = [
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"',
            "MIME-Version: 1.0",
            f"Subject: {encode_header(subject)}",
            self._sender_headers,
            f"To: {to}",
            f"Date: {self._date_header()}",
            f"Message-ID: {message_id}",
        ]
        if unsubscribe_url is not None:
            # RFC 8058 one-click: mailbox providers POST "List-Unsubscribe=One-Click" here.
            headers.append(f"List-Unsubscribe: <{unsubscribe_url}>")
            headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        return b"".join(
            [
                "\r\n".join(headers).encode("ascii"),
                b"\r\n\r\n",
                delimiter,
                b"\r\n",
                parts[0],
                b"\r\n",
                delimiter,
                b"\r\n",
                parts[1],
                b"\r\n",
                delimiter,
                b"--\r\n",
            ]
        )


def send_raw(smtp: smtplib.SMTP, sender: str, recipient: str, message: bytes) -> None:
    """``smtp.sendmail(sender, [recipient], message)`` for one plain ASCII
    recipient and a message with CRLF line ends: the same commands, replies
    and exceptions, without parsing both addresses again for every mail and
    without the dot-stuffing pass over a message that has no line starting
    with a dot. Anything else goes to ``sendmail`` itself."""
    if not (sender.isascii() and _PLAIN_ADDRESS.fullmatch(recipient)) or "\n" in sender:
        smtp.sendmail(sender, [recipient], message)
        return
    smtp.ehlo_or_helo_if_needed()
    options = f" size={len(message)}" if smtp.does_esmtp and smtp.has_extn("size") else ""
    code, reply = smtp.docmd("mail", f"FROM:<{sender}>{options}")
    if code != 250:
        _abort(smtp, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = smtp.docmd("rcpt", f"TO:<{recipient}>")
    if code not in (250, 251):
        _abort(smtp, code)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    if message.startswith(b".") or b"\n." in message:
        code, reply = smtp.data(message)
    else:
        code, reply = smtp.docmd("data")
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        smtp.send(message + (b"." if message.endswith(b"\r\n") else b"\r\n.") + b"\r\n")
        code, reply = smtp.getreply()
    if code != 250:
        _abort(smtp, code)
        raise smtplib.SMTPDataError(code, reply)


def _abort(smtp: smtplib.SMTP, code: int) -> None:
    """What sendmail does after a refusal: close on 421, else RSET."""
    if code == 421:
        smtp.close()
    else:
        smtp._rset()
