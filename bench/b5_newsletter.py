"""B5: a newsletter rendered and handed to a local SMTP server (aiosmtpd),
and the step-mail dispatcher advancing due enrollments.

Figure: mails per second through the whole send path, as the dispatcher
task runs it (``sends_dispatch``) — set-based materialization, claim in
batches, per-send checks (suppression, consent, cap, window) under the
lead's row lock, rendering (each lead's merge tags and signed addresses
filled into the template, whose links, inlined CSS and plain-text part are
made once per template shape), the MIME message, SMTP hand-over (two sender
threads, one connection each, handing over while the next batch is
prepared), and each mail's ``sent`` mark. Baseline, same run and same
server: a bare ``smtplib`` loop sending pre-rendered messages over one
connection. Target (issue #8): ≥ 500 mails/s
and ≥ 0.5× the baseline. Step mail: due enrollments advanced per second
(claim with SKIP LOCKED, write the step's send row, move to the next step),
against one plain INSERT … SELECT of as many send rows; target ≥ 2,000/s.
"""

from __future__ import annotations

import multiprocessing
import smtplib
import time

from django.conf import settings
from django.db import connection, connections

from bench.dataset import generate
from bench.harness import Figure

#: Recipients per size (the issue's target is 100,000 at full size).
RECIPIENTS = {"tiny": 2_000, "medium": 20_000, "full": 100_000}
#: Mail worker processes sending at once. In production beat starts the
#: dispatcher every 10 s and each run sends for up to 120 s, so while a large
#: newsletter goes out several runs send side by side in the worker's
#: processes (``--concurrency 4``), each claiming its own batches.
DISPATCHERS = 2


class Sink:
    """aiosmtpd in its own process (in this one it would compete for the GIL
    with the sender being measured), discarding what it receives."""

    def __init__(self) -> None:
        import socket
        import subprocess
        import sys

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
             "-l", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the SMTP sink did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _dispatch_until_sent(newsletter_id: int) -> None:
    """One mail worker process: dispatcher runs until nothing is pending."""
    from scenarios.models import Send
    from scenarios.sending import sends_dispatch

    try:
        while Send.objects.filter(newsletter_id=newsletter_id, state="pending").exists():
            sends_dispatch()
    finally:
        connections.close_all()


def _baseline(port: int, messages: list[bytes]) -> float:
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i, message in enumerate(messages):
            smtp.sendmail("news@bench.example", [f"lead{i}@bench.example"], message)
    return time.perf_counter() - started


def _step_dispatch(recipients: int) -> tuple[float, float]:
    """Seconds to advance ``recipients`` due enrollments, and for the baseline."""
    import datetime

    from django.utils import timezone

    from scenarios.models import EmailTemplate, Enrollment, Send, SequenceStep, StepSequence
    from scenarios.step_mail import enrollments_advance, sequence_enroll

    Send.objects.filter(kind="step").delete()
    Enrollment.objects.all().delete()
    StepSequence.objects.filter(name="bench steps").delete()
    sequence = StepSequence.objects.create(name="bench steps")
    template = EmailTemplate.objects.get(name="bench")
    for position in range(3):
        SequenceStep.objects.create(
            sequence=sequence, position=position, day_offset=position,
            send_time=datetime.time(0), template=template,
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM leads_lead ORDER BY id LIMIT %s", [recipients])
        lead_ids = [row[0] for row in cursor.fetchall()]
    sequence_enroll(sequence=sequence, lead_ids=lead_ids)
    started = time.perf_counter()
    moved = 0
    later = timezone.now() + datetime.timedelta(minutes=1)
    while moved < recipients:
        advanced = enrollments_advance(now=later)
        if not advanced:
            break
        moved += advanced
    elapsed = time.perf_counter() - started
    assert moved == recipients, (moved, recipients)

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO scenarios_send (lead_id, template_id, source_key, kind, state, reason,
                due_at, attempts, message_id, token, to_email, subject, links, error, created_at)
            SELECT id, %s, 'bench-baseline', 'step', 'skipped', '', now(), 0, '',
                   gen_random_uuid(), '', '', '[]'::jsonb, '', now()
              FROM leads_lead ORDER BY id LIMIT %s
            """,
            [template.pk, recipients],
        )
    baseline = time.perf_counter() - started
    Send.objects.filter(kind="step").delete()
    return elapsed, baseline


def run(size: dict) -> list[Figure]:
    from leads.models import ActorKind, ListMembership, StaticList
    from scenarios import links
    from scenarios.models import EmailTemplate, Newsletter, Send, SenderProfile
    from scenarios.services import newsletter_schedule, newsletters_materialize_due

    recipients = RECIPIENTS[size["name"]]
    generate(leads=max(size["leads"], recipients), events=size["events"])
    sink = Sink()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    try:
        Send.objects.all().delete()
        Newsletter.objects.all().delete()
        SenderProfile.objects.all().delete()
        # Every mail leaves dead row versions behind (claim, check, sent mark);
        # the bench server runs without autovacuum, so each run would start on
        # the previous runs' leftovers. Start from a vacuumed table, as
        # autovacuum keeps it in production.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE scenarios_send")
        SenderProfile.objects.create(
            from_name="ベンチ株式会社", from_email="news@bench.example", postal_address="東京都",
            contact="03-0000-0000", weekly_cap=1000, require_consent=False,
        )  # fmt: skip
        template, _ = EmailTemplate.objects.update_or_create(
            name="bench",
            defaults={
                "subject": "{{ lead.company }} {{ lead.last_name }} 様: 今月のお知らせ",
                "html_body": (
                    "<style>p { color: #333; } a { color: #0b6e4f; }</style>"
                    "<p>{{ lead.last_name }} {{ lead.first_name|default('ご担当者') }} 様</p>"
                    + "".join(
                        f'<p>記事{i}: <a href="https://bench.example/a/{i}">続きを読む</a></p>'
                        for i in range(5)
                    )
                ),
            },
        )
        static_list, _ = StaticList.objects.get_or_create(name="bench newsletter")
        ListMembership.objects.filter(static_list=static_list).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO leads_listmembership (static_list_id, lead_id, added_at, "
                "added_by_kind) SELECT %s, id, now(), %s FROM leads_lead ORDER BY id LIMIT %s",
                [static_list.pk, ActorKind.USER, recipients],
            )
        newsletter = Newsletter.objects.create(
            name="bench", template=template, static_list=static_list
        )

        started = time.perf_counter()
        newsletter_schedule(newsletter=newsletter)
        newsletters_materialize_due()
        # Loading the URLconf (for the mails' signed addresses) is a one-time
        # cost of a cold process, paid here once, inside the timing, and not
        # again by each forked worker (a running worker has it loaded).
        links.SendLinks()
        # The workers open connections of their own.
        connections.close_all()
        context = multiprocessing.get_context("fork")
        workers = [
            context.Process(target=_dispatch_until_sent, args=(newsletter.pk,))
            for _ in range(DISPATCHERS)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
        assert all(worker.exitcode == 0 for worker in workers), [w.exitcode for w in workers]
        sent = Send.objects.filter(newsletter=newsletter, state="sent").count()
        assert sent == recipients, (sent, recipients)

        # Baseline: the same number of pre-rendered messages of the same size.
        sample = Send.objects.filter(newsletter=newsletter).first()
        from scenarios.sending import build_message, render_for_send

        rendered = render_for_send(sample, SenderProfile.objects.get())
        raw = build_message(
            rendered=rendered, to="x@bench.example", profile=SenderProfile.objects.get(),
            unsubscribe_url="https://bench.example/u",
        ).message().as_bytes(linesep="\r\n")  # fmt: skip
        prebuilt = [raw] * recipients
        baseline_s = _baseline(sink.port, prebuilt)
    finally:
        sink.stop()
    steps_s, steps_baseline_s = _step_dispatch(recipients)
    return [
        Figure(
            bench_id="B5",
            workload=f"step mail: {recipients:,} due enrollments advanced",
            figure="due steps advanced per second (claim, send row, next step)",
            unit="steps/s",
            value=recipients / steps_s,
            baseline="plain INSERT … SELECT of as many send rows",
            baseline_value=recipients / steps_baseline_s,
            samples=[steps_s],
            baseline_samples=[steps_baseline_s],
        ),
        Figure(
            bench_id="B5",
            workload=(
                f"newsletter to {recipients:,} leads via local aiosmtpd, "
                f"{DISPATCHERS} dispatcher processes"
            ),
            figure="mails per second (render + send path)",
            unit="mails/s",
            value=recipients / elapsed,
            baseline="bare smtplib loop, pre-rendered",
            baseline_value=recipients / baseline_s,
            samples=[elapsed],
            baseline_samples=[baseline_s],
        ),
    ]
