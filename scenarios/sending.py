"""The one path every marketing mail takes: claim, check, render, hand over, mark.

A ``Send`` row exists before anything is sent (UNIQUE lead + source). The
dispatcher claims due rows in batches (``pending`` → ``claimed`` with a
lease, ``FOR UPDATE SKIP LOCKED`` so workers never share a row), then checks
a batch in one short transaction holding its leads' row locks:

- suppression, unsubscription and consent are checked: a blocked send is
  ``skipped`` with its reason;
- the send window and the weekly cap are checked: a send that may not go
  now goes back to ``pending`` with ``due_at`` at the next allowed time and
  the reason shown (deferred, never dropped);
- otherwise it is rendered and stamped ``handed_at`` (it now counts toward
  the cap), and the batch's rows are written and committed.

Then, outside any transaction, each message goes to the mail backend, and
right after the backend accepted it the row becomes ``sent`` with a
conditional UPDATE of its own. A dispatcher run hands batches over from
sender threads while it checks and renders the next one (``_Senders``); the
``sent`` marks go out on a connection of their own without waiting for the
answer before the next mail (``_SentMarks``). A worker killed before the
hand-over leaves a ``claimed`` row whose lease runs out; ``sends_reclaim_stale``
gives it back to ``pending`` and it is sent once. The Message-ID is fixed per
row, so in the only remaining window (the backend accepted the message and
the worker died before the UPDATE left it) a retry carries the same Message-ID.

Rendering fills each lead's values into the template finished once per batch
and template shape (``rendering.MailRenderer``); on Django's SMTP backend the
MIME message is written directly (``mime.SmtpMessages``), on any other
backend (django-anymail's ESPs) it is Django's ``EmailMultiAlternatives``.
"""

from __future__ import annotations

import datetime
import json
import logging
import queue
import select
import sys
import threading
import time
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.db import connection as db_connection
from django.db import connections as db_connections
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import Consent, Lead, Suppression
from scenarios import links
from scenarios.mime import SmtpMessages, send_raw
from scenarios.models import Send, SenderProfile
from scenarios.rendering import LEAD_FIELDS, MailRenderer, RenderedMail, lead_context

log = logging.getLogger(__name__)

#: Sends claimed per batch; its rendered mails are kept until handed over.
BATCH_SIZE = 200
#: Batches handed over at once by a dispatcher run, each on its own backend
#: (SMTP) connection, while the run prepares the next.
SENDERS = 2
#: The GIL switch interval (seconds) while a dispatcher run has sender threads.
SWITCH_INTERVAL = 0.0005
#: A claim older than this belongs to a dead worker and is given back.
LEASE = datetime.timedelta(minutes=10)
#: Hand-overs tried before a send is marked failed.
MAX_ATTEMPTS = 5
RETRY_DELAY = datetime.timedelta(minutes=5)
CAP_WINDOW = datetime.timedelta(days=7)
#: A dispatcher run claims no new batch after this (the task limit is 300 s).
DISPATCH_BUDGET = datetime.timedelta(seconds=120)
#: Kinds of mail the weekly cap applies to (alerts and transactional are exempt).
CAPPED_KINDS = (Send.Kind.NEWSLETTER, Send.Kind.STEP, Send.Kind.SCENARIO)


def sender_profile() -> SenderProfile:
    profile = SenderProfile.objects.first()
    if profile is None:
        raise ValidationError(
            _("Set the sender profile (sender name, address, contact) before sending mail.")
        )
    return profile


def message_domain(profile: SenderProfile) -> str:
    return profile.from_email.rsplit("@", 1)[-1]


@dataclass
class Verdict:
    """What to do with a claimed send now: send, skip (for good) or defer."""

    action: str  # "send" | "skip" | "defer"
    reason: str = ""
    until: datetime.datetime | None = None


@dataclass
class LeadFacts:
    """What the checks need to know about the leads of one batch, read in a
    few set-based queries: active suppressions (oldest first), consent, and
    the hand-over times of capped mail in the last 7 days (newest first)."""

    suppressions: dict[int, list[Suppression]] = field(default_factory=dict)
    consented: set[int] = field(default_factory=set)
    handed: dict[int, list[datetime.datetime]] = field(default_factory=dict)


def lead_facts(
    lead_ids: list[int], *, now: datetime.datetime, exclude_send_ids: list[int] = ()
) -> LeadFacts:
    facts = LeadFacts()
    for row in Suppression.objects.filter(lead_id__in=lead_ids, lifted_at__isnull=True).order_by(
        "created_at"
    ):
        facts.suppressions.setdefault(row.lead_id, []).append(row)
    facts.consented = set(
        Consent.objects.filter(lead_id__in=lead_ids, channel="email")
        .values_list("lead_id", flat=True)
        .distinct()
    )
    handed = (
        Send.objects.filter(
            lead_id__in=lead_ids,
            kind__in=CAPPED_KINDS,
            state__in=[Send.State.CLAIMED, Send.State.SENT],
            handed_at__gt=now - CAP_WINDOW,
        )
        .exclude(pk__in=list(exclude_send_ids))
        .order_by("lead_id", "-handed_at")
        .values_list("lead_id", "handed_at")
    )
    for lead_id, moment in handed:
        facts.handed.setdefault(lead_id, []).append(moment)
    return facts


def cap_deferral(
    *, handed: list[datetime.datetime], cap: int, now: datetime.datetime
) -> datetime.datetime | None:
    """When the lead may get its next capped mail, or None if it may now.

    ``handed`` are the lead's capped hand-overs of the last 7 days, newest
    first. With ``cap`` of them the next is allowed 7 days after the oldest
    of the last ``cap`` (it then leaves the rolling window).
    """
    recent = [moment for moment in handed if moment > now - CAP_WINDOW]
    if len(recent) < cap:
        return None
    return recent[cap - 1] + CAP_WINDOW


def send_verdict(
    send: Send, profile: SenderProfile, now: datetime.datetime, facts: LeadFacts
) -> Verdict:
    lead = send.lead
    channels = {Suppression.Channel.EMAIL}
    if send.kind == Send.Kind.NEWSLETTER:
        channels.add(Suppression.Channel.NEWSLETTER)
    for row in facts.suppressions.get(lead.pk, []):
        if row.channel in channels:
            return Verdict(
                "skip",
                _("Suppressed: %(reason)s (%(channel)s)")
                % {"reason": row.get_reason_display(), "channel": row.get_channel_display()},
            )
    if not lead.email:
        return Verdict("skip", _("The lead has no email address."))
    if (
        send.kind != Send.Kind.TRANSACTIONAL
        and profile.require_consent
        and lead.pk not in facts.consented
    ):
        return Verdict("skip", _("No consent to marketing mail is recorded."))
    if send.send_window_id:
        opens = send.send_window.next_open(now)
        if opens > now:
            return Verdict(
                "defer",
                _("Outside the send window “%(window)s”") % {"window": send.send_window.name},
                opens,
            )
    if send.kind in CAPPED_KINDS:
        allowed = cap_deferral(
            handed=facts.handed.get(lead.pk, []), cap=profile.weekly_cap, now=now
        )
        if allowed is not None:
            return Verdict(
                "defer",
                _("Weekly cap of %(cap)d mails reached") % {"cap": profile.weekly_cap},
                allowed,
            )
    return Verdict("send")


def render_for_send(
    send: Send,
    profile: SenderProfile,
    custom_keys: list[str] | None = None,
    *,
    renderers: dict | None = None,
    urls: links.SendLinks | None = None,
) -> RenderedMail:
    """``send``'s mail. A batch passes ``renderers`` (one ``MailRenderer`` per
    template, kept across the batch) and ``urls`` (the batch's signers)."""
    template = send.template
    urls = urls or links.SendLinks()
    renderers = {} if renderers is None else renderers
    renderer = renderers.get(template.pk)
    if renderer is None or renderer.sources != (
        template.subject,
        template.preheader,
        template.html_body,
    ):
        renderer = renderers[template.pk] = MailRenderer(
            subject=template.subject,
            preheader=template.preheader,
            html_body=template.html_body,
            from_name=profile.from_name,
            postal_address=profile.postal_address,
            contact=profile.contact,
        )
    return renderer.render(
        lead_context(send.lead, custom_keys),
        unsubscribe_url=urls.unsubscribe_url(send.lead_id),
        tracked_url=lambda index: urls.click_url(send.pk, index),
        open_pixel_url=urls.open_url(send.pk),
    )


def build_message(
    *,
    rendered: RenderedMail,
    to: str,
    profile: SenderProfile,
    unsubscribe_url: str | None,
    message_id: str | None = None,
    connection=None,
) -> EmailMultiAlternatives:
    headers = {}
    if unsubscribe_url:
        # RFC 8058 one-click: mailbox providers POST "List-Unsubscribe=One-Click" here.
        headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if message_id:
        headers["Message-ID"] = message_id
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=f"{profile.from_name} <{profile.from_email}>",
        to=[to],
        reply_to=[profile.reply_to] if profile.reply_to else None,
        headers=headers,
        connection=connection,
    )
    message.attach_alternative(rendered.html, "text/html")
    return message


def sends_reclaim_stale(now: datetime.datetime | None = None) -> int:
    """Give claims whose lease ran out (their worker died) back to the queue;
    after ``MAX_ATTEMPTS`` a send is failed instead. Returns rows touched."""
    now = now or timezone.now()
    with db_connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE scenarios_send
               SET state = CASE WHEN attempts >= %s THEN 'failed' ELSE 'pending' END,
                   lease_until = NULL, handed_at = NULL, reason = %s
             WHERE state = 'claimed' AND lease_until < %s
            """,
            [MAX_ATTEMPTS, _("Retried: the worker sending it stopped"), now],
        )
        return cursor.rowcount


def sends_claim_due(*, limit: int | None = None, now: datetime.datetime | None = None) -> list[int]:
    """Claim up to ``limit`` (``BATCH_SIZE``) due sends for this worker
    (committed before return).

    The due rows are picked by an uncorrelated ``ARRAY(SELECT …)``, run once.
    As ``id IN (SELECT … LIMIT … FOR UPDATE SKIP LOCKED)`` PostgreSQL may plan
    the subquery as the inner side of a nested loop, rescanned for every row,
    and each rescan skips the rows the statement has just claimed and takes
    the next ones: one claim took every due row once the table had statistics.
    The rows it returns are locked and were rechecked as pending when locked,
    so the UPDATE needs no second state test (which made PostgreSQL scan
    every pending row instead of the primary key)."""
    now = now or timezone.now()
    with transaction.atomic(), db_connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE scenarios_send
               SET state = 'claimed', lease_until = %s, attempts = attempts + 1
             WHERE id = ANY(ARRAY(
                   SELECT id FROM scenarios_send
                    WHERE state = 'pending' AND due_at <= %s
                    ORDER BY due_at, id
                    LIMIT %s
                    FOR UPDATE SKIP LOCKED))
            RETURNING id
            """,
            [now + LEASE, now, limit or BATCH_SIZE],
        )
        return sorted(row[0] for row in cursor.fetchall())


#: Columns the check stage writes, in one UPDATE per batch.
_CHECKED_FIELDS = [
    "state", "reason", "due_at", "lease_until", "attempts", "handed_at", "to_email",
    "subject", "links", "message_id", "error",
]  # fmt: skip


class _Row:
    """A plain object with the attributes the code below reads of a model."""

    def __init__(self, **values) -> None:
        self.__dict__.update(values)


_SEND_COLUMNS = (
    "id", "lead_id", "template_id", "kind", "send_window_id", "state", "reason", "due_at",
    "lease_until", "attempts", "handed_at", "to_email", "subject", "links", "message_id",
    "token", "error",
)  # fmt: skip
_LEAD_COLUMNS = (*LEAD_FIELDS, "company_id", "company_name", "custom")


def _load_claimed(send_ids: list[int]) -> list:
    """The claimed sends among ``send_ids`` with their lead, company name,
    template and send window, in id order, as plain objects with the model's
    attribute names: one query (and one for the batch's templates and
    windows), without building four model instances per send, which cost
    more than rendering the mail."""
    from scenarios.models import EmailTemplate, SendWindow

    columns = ", ".join(
        [f"s.{name}" for name in _SEND_COLUMNS]
        + [f"l.{name}" for name in _LEAD_COLUMNS]
        + ["c.name"]
    )
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT {columns}
              FROM scenarios_send s
              JOIN leads_lead l ON l.id = s.lead_id
              LEFT JOIN leads_company c ON c.id = l.company_id
             WHERE s.id = ANY(%s) AND s.state = 'claimed'
             ORDER BY s.id
            """,  # noqa: S608 - the column names are constants
            [list(send_ids)],
        )
        rows = cursor.fetchall()
    sends = []
    width = len(_SEND_COLUMNS)
    for row in rows:
        send = _Row(**dict(zip(_SEND_COLUMNS, row[:width], strict=True)))
        lead = _Row(**dict(zip(_LEAD_COLUMNS, row[width:-1], strict=True)))
        lead.id = lead.pk = send.lead_id
        lead.custom = _json(lead.custom)
        lead.company = _Row(name=row[-1]) if lead.company_id else None
        send.pk, send.lead, send.links = send.id, lead, _json(send.links)
        send.token = str(send.token)
        sends.append(send)
    templates = EmailTemplate.objects.in_bulk({send.template_id for send in sends})
    windows = SendWindow.objects.in_bulk(
        {send.send_window_id for send in sends if send.send_window_id}
    )
    for send in sends:
        send.template = templates[send.template_id]
        send.send_window = windows.get(send.send_window_id)
    return sends


def _json(value):
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _prepare_batch(send_ids: list[int], profile: SenderProfile) -> list[tuple[Send, RenderedMail]]:
    """Check and render a batch of claimed sends in one short transaction.

    The batch's leads are locked (in id order, so two workers cannot
    deadlock) while their caps are read and the sends that pass are stamped
    ``handed_at``: two workers can never both pass one lead's cap. Skipped
    and deferred rows are written in the same UPDATE. Returns the sends to
    hand over now, with their mail.
    """
    from leads.custom_fields import active_fields

    now = timezone.now()
    custom_keys = list(active_fields())
    domain = message_domain(profile)
    renderers: dict = {}
    urls = links.SendLinks()
    ready: list[tuple[Send, RenderedMail]] = []
    with transaction.atomic():
        sends = _load_claimed(send_ids)
        if not sends:
            return ready
        lead_ids = sorted({send.lead_id for send in sends})
        list(Lead.objects.select_for_update().filter(pk__in=lead_ids).order_by("pk").values("pk"))
        facts = lead_facts(lead_ids, now=now, exclude_send_ids=[send.pk for send in sends])
        for send in sends:
            verdict = send_verdict(send, profile, now, facts)
            if verdict.action == "skip":
                send.state, send.reason, send.lease_until = Send.State.SKIPPED, verdict.reason, None
                continue
            if verdict.action == "defer":
                send.state, send.reason, send.due_at = (
                    Send.State.PENDING,
                    verdict.reason,
                    verdict.until,
                )
                send.lease_until, send.attempts = None, 0
                continue
            try:
                rendered = render_for_send(
                    send, profile, custom_keys=custom_keys, renderers=renderers, urls=urls
                )
            except ValidationError as exc:
                send.state, send.error = Send.State.FAILED, "; ".join(exc.messages)
                send.lease_until = None
                continue
            send.handed_at = now
            send.to_email = send.lead.email
            send.subject = rendered.subject[:300]
            send.links = rendered.links
            send.message_id = send.message_id or f"<{send.token}@{domain}>"
            send.reason = ""
            if send.kind in CAPPED_KINDS:
                facts.handed.setdefault(send.lead_id, []).insert(0, now)
            ready.append((send, rendered))
        _write_checked(sends)
    return ready


def _write_checked(sends: list[Send]) -> None:
    """One UPDATE for the whole batch (Django's bulk_update builds a CASE per
    row and column, which costs more than the mails' rendering)."""
    columns = {name: [getattr(send, name) for send in sends] for name in _CHECKED_FIELDS}
    columns["links"] = [json.dumps(links, ensure_ascii=False) for links in columns["links"]]
    with db_connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE scenarios_send s
               SET state = v.state, reason = v.reason, due_at = v.due_at,
                   lease_until = v.lease_until, attempts = v.attempts, handed_at = v.handed_at,
                   to_email = v.to_email, subject = v.subject, links = v.links::jsonb,
                   message_id = v.message_id, error = v.error
              FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[],
                          %s::timestamptz[], %s::int[], %s::timestamptz[], %s::text[],
                          %s::text[], %s::text[], %s::text[], %s::text[])
                   AS v(id, state, reason, due_at, lease_until, attempts, handed_at, to_email,
                        subject, links, message_id, error)
             WHERE s.id = v.id
            """,
            [[send.pk for send in sends], *(columns[name] for name in _CHECKED_FIELDS)],
        )


_MARK_SENT = (
    "SET LOCAL synchronous_commit = off; "
    "UPDATE scenarios_send SET state = 'sent', sent_at = %s, lease_until = NULL "
    "WHERE id = %s AND state = 'claimed'"
)


def _mark_sent(send_id: int) -> None:
    """The row is ``sent`` the moment the backend accepted the mail, in its
    own commit: a worker dying after this line never resends it.

    The commit does not wait for the WAL flush (``synchronous_commit = off``):
    a killed worker loses nothing (the commit is in PostgreSQL already); only a
    crash of the PostgreSQL server itself within a fraction of a second could
    lose the mark, and then that mail would be sent once more after the lease.
    It saves one disk flush per mail, the largest cost of a newsletter. The
    two statements go as one query (PostgreSQL runs them as one transaction)."""
    with transaction.atomic(), db_connection.cursor() as cursor:
        cursor.execute(_MARK_SENT, [timezone.now(), send_id])


class _SentMarks:
    """Writes the ``sent`` marks of one delivery run.

    Each mark is the statement of ``_mark_sent``, on a connection of its own
    in psycopg2's asynchronous mode: it is written to PostgreSQL right after
    the backend accepted the mail, as before, but its answer is read only
    before the next mark, while the next mail is being handed over, instead
    of the SMTP conversation waiting for the database. One mark at most is in
    flight, and it has already left the worker: PostgreSQL commits it even if
    the worker is killed then (the server reads and runs the query before it
    notices the closed connection). An error of a mark is raised at the next
    mark or at ``close``.

    Inside a transaction (the tests' atomic block) a second connection would
    not see the rows, so there it falls back to ``_mark_sent``."""

    def __init__(self) -> None:
        self.conn = None
        self.in_flight = False
        if db_connection.in_atomic_block:
            return
        database = db_connection.Database
        if getattr(database, "__name__", "") != "psycopg2":
            return
        params = db_connection.get_connection_params()
        params.pop("cursor_factory", None)
        self.extensions = database.extensions
        self.conn = database.connect(**params, async_=True)
        self._wait()
        self.cursor = self.conn.cursor()

    def _wait(self, *, until_sent: bool = False) -> None:
        """Poll the connection until its query is answered (or, with
        ``until_sent``, until the query has been written out)."""
        extensions = self.extensions
        while True:
            state = self.conn.poll()
            if state == extensions.POLL_OK:
                return
            if state == extensions.POLL_WRITE:
                select.select([], [self.conn.fileno()], [], 30)
            elif state == extensions.POLL_READ:
                if until_sent:
                    return
                select.select([self.conn.fileno()], [], [], 30)
            else:  # pragma: no cover - psycopg2 has no other state
                raise RuntimeError(f"unexpected connection state {state}")

    def mark(self, send_id: int) -> None:
        if self.conn is None:
            _mark_sent(send_id)
            return
        self.finish()
        self.cursor.execute(_MARK_SENT, [timezone.now(), send_id])
        self.in_flight = True
        self._wait(until_sent=True)

    def finish(self) -> None:
        """Wait for the mark in flight, if any."""
        if self.in_flight:
            self.in_flight = False
            self._wait()

    def close(self) -> None:
        if self.conn is None:
            return
        try:
            self.finish()
        finally:
            self.conn.close()
            self.conn = None


class _Handover:
    """Hands mails to the configured backend over one connection. On Django's
    SMTP backend the message is written by ``SmtpMessages`` and given to the
    backend's own SMTP connection (its host, port, TLS, login and timeout);
    on any other backend (django-anymail's ESPs) it goes as the
    ``EmailMultiAlternatives`` of ``build_message``."""

    def __init__(self, profile: SenderProfile) -> None:
        self.profile = profile
        self.backend = get_connection()
        self.writer = None
        if type(self.backend) is SmtpBackend and SmtpMessages.usable():
            self.writer = SmtpMessages(
                from_email=f"{profile.from_name} <{profile.from_email}>",
                reply_to=profile.reply_to or None,
            )

    def open(self) -> None:
        self.backend.open()

    def send(self, send: Send, rendered: RenderedMail, unsubscribe_url: str) -> None:
        raw = None
        if self.writer is not None:
            raw = self.writer.build(
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                to=send.lead.email,
                message_id=send.message_id,
                unsubscribe_url=unsubscribe_url,
            )
        if raw is None:
            build_message(
                rendered=rendered,
                to=send.lead.email,
                profile=self.profile,
                unsubscribe_url=unsubscribe_url,
                message_id=send.message_id,
                connection=self.backend,
            ).send()
            return
        if self.backend.connection is None:
            self.backend.open()
        send_raw(self.backend.connection, self.writer.envelope_address, send.lead.email, raw)

    def reset(self) -> None:
        """A broken connection is not reused for the next message."""
        self.backend.close()
        self.backend = get_connection()

    def close(self) -> None:
        self.backend.close()


@dataclass
class _Batch:
    """Claimed sends checked and rendered, waiting to be handed over."""

    ready: list[tuple[Send, RenderedMail]]
    #: Past half the lease, the rest of the batch is given back rather than
    #: sent late: a claim must never outlive its lease while its worker still
    #: holds it (a slow or hanging mail server), or another worker would take it.
    give_back_at: float


def _hand_over(batch: _Batch, handover: _Handover, marks: _SentMarks, counts: dict) -> None:
    """Hand each mail of ``batch`` to the backend, then mark it sent."""
    urls = links.SendLinks()
    for index, (send, rendered) in enumerate(batch.ready):
        if time.monotonic() > batch.give_back_at:
            counts["not_sent"] += _give_back([s.pk for s, _r in batch.ready[index:]])
            break
        try:
            handover.send(send, rendered, urls.unsubscribe_url(send.lead_id))
        except Exception as exc:  # the backend said no: retry later, then fail
            log.warning("send %s not handed over: %s", send.pk, exc)
            _handover_failed(send, exc)
            counts["failed"] += 1
            handover.reset()
            continue
        marks.mark(send.pk)
        counts["sent"] += 1


def sends_deliver(send_ids: list[int]) -> dict[str, int]:
    """Deliver claimed sends over one backend connection. Returns counts."""
    counts = {"sent": 0, "not_sent": 0, "failed": 0}
    if not send_ids:
        return counts
    profile = sender_profile()
    give_back_at = time.monotonic() + LEASE.total_seconds() / 2
    handover = _Handover(profile)
    marks = None
    try:
        handover.open()
        batch = _Batch(_prepare_batch(send_ids, profile), give_back_at)
        counts["not_sent"] = len(send_ids) - len(batch.ready)
        marks = _SentMarks()
        _hand_over(batch, handover, marks, counts)
    finally:
        try:
            if marks is not None:
                marks.close()
        finally:
            handover.close()
    return counts


class _Senders:
    """Hand over the batches a dispatcher run has prepared while the run
    claims, checks and renders the next: the database work of one batch
    overlaps the SMTP conversations of the ones before.

    ``SENDERS`` threads each take whole batches from a short queue and hand
    them over on a backend connection of their own (and a connection of
    their own for the ``sent`` marks), so every mail is still marked sent
    right after its own hand-over. At most ``SENDERS`` prepared batches wait
    (their rows stay ``claimed``, stamped ``handed_at``; a worker that dies
    leaves them to the lease, unsent). A thread uses Django's database
    connection of its own thread only for a refused mail or a give-back, and
    closes it when done. An error in a thread stops the run (no new claims)
    and is raised by ``close``."""

    def __init__(self, profile: SenderProfile, count: int) -> None:
        self.profile = profile
        self.batches: queue.Queue[_Batch | None] = queue.Queue(maxsize=count)
        self.counts = {"sent": 0, "not_sent": 0, "failed": 0}
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, name=f"kizuki-mail-sender-{n}", daemon=True)
            for n in range(count)
        ]
        for thread in self.threads:
            thread.start()

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def _run(self) -> None:
        handover = marks = None
        counts = {"sent": 0, "not_sent": 0, "failed": 0}
        try:
            handover = _Handover(self.profile)
            handover.open()
            marks = _SentMarks()
            while (batch := self.batches.get()) is not None:
                if self.errors:  # another thread failed: the run stops
                    _give_back_quietly(batch)
                    continue
                _hand_over(batch, handover, marks, counts)
        except BaseException as exc:  # raised again by close()
            self.errors.append(exc)
            while (batch := self.batches.get()) is not None:
                _give_back_quietly(batch)
        finally:
            try:
                if marks is not None:
                    marks.close()
                if handover is not None:
                    handover.close()
            except Exception as exc:
                self.errors.append(exc)
            db_connections.close_all()
            with self._lock:
                for key, value in counts.items():
                    self.counts[key] += value

    def put(self, batch: _Batch) -> None:
        while not self.errors:
            try:
                self.batches.put(batch, timeout=1)
                return
            except queue.Full:
                continue
        _give_back_quietly(batch)

    def close(self) -> dict[str, int]:
        """Wait for the threads; their counts, or the first error raised."""
        for _thread in self.threads:
            self.batches.put(None)
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise self.errors[0]
        return self.counts


def _give_back_quietly(batch: _Batch) -> None:
    """Return a batch that will not be handed over now to the queue; if even
    that fails (the database is the trouble), the lease returns it."""
    try:
        _give_back([send.pk for send, _rendered in batch.ready])
    except Exception:
        log.exception("a prepared batch was not given back; its lease will return it")


def _give_back(send_ids: list[int]) -> int:
    """Return claimed, not yet handed-over sends to the queue, due now."""
    return Send.objects.filter(pk__in=send_ids, state=Send.State.CLAIMED).update(
        state=Send.State.PENDING, handed_at=None, lease_until=None
    )


def _handover_failed(send: Send, exc: Exception) -> None:
    give_up = send.attempts >= MAX_ATTEMPTS
    Send.objects.filter(pk=send.pk, state=Send.State.CLAIMED).update(
        state=Send.State.FAILED if give_up else Send.State.PENDING,
        due_at=timezone.now() + RETRY_DELAY,
        handed_at=None,
        lease_until=None,
        error=str(exc)[:1000],
        reason=_("The mail server refused it; retrying") if not give_up else "",
    )


def sends_dispatch(
    *, max_batches: int = 50, time_budget: datetime.timedelta = DISPATCH_BUDGET
) -> dict[str, int]:
    """One dispatcher run: reclaim dead claims, then claim and deliver due sends
    until none are due or the time budget is spent (no new batch is claimed
    after it, so a run ends well inside the task's time limit)."""
    sender_profile()  # no profile, no claims: nothing is left claimed for nothing
    deadline = time.monotonic() + time_budget.total_seconds()
    totals = {"sent": 0, "not_sent": 0, "failed": 0, "reclaimed": sends_reclaim_stale()}
    if db_connection.in_atomic_block:
        # Inside a transaction (the tests' atomic block) another thread's
        # connection would not see the rows: one batch after the other.
        for _batch in range(max_batches):
            if time.monotonic() > deadline:
                break
            ids = sends_claim_due()
            if not ids:
                break
            for key, value in sends_deliver(ids).items():
                totals[key] += value
        return totals
    profile = sender_profile()
    # A sender thread needs the GIL back after every SMTP reply. While this
    # thread renders, CPython would hand it over only after the switch
    # interval (5 ms by default), so every reply would wait that long; for
    # the run, the interval is shorter.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(switch_interval, SWITCH_INTERVAL))
    senders = _Senders(profile, SENDERS)
    try:
        for _batch in range(max_batches):
            if time.monotonic() > deadline or senders.failed:
                break
            ids = sends_claim_due()
            if not ids:
                break
            give_back_at = time.monotonic() + LEASE.total_seconds() / 2
            ready = _prepare_batch(ids, profile)
            totals["not_sent"] += len(ids) - len(ready)
            senders.put(_Batch(ready, give_back_at))
    finally:
        try:
            counts = senders.close()
        finally:
            sys.setswitchinterval(switch_interval)
    for key, value in counts.items():
        totals[key] += value
    return totals
