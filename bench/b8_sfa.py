"""B8: handoffs to kintone — N leads handed over, sent by the outbox
dispatcher to a kintone server on loopback (the test suite's stand-in that
follows kintone's REST API) in 100-record upsert batches.

Figure: seconds from the handoff (one statement queues N outbox rows) until
every record is in kintone. Baseline: the goal, 10,000 handoffs in 60 s.
Sizes: tiny 1,000 handoffs; medium and full 10,000.
"""

from __future__ import annotations

import time

from bench.harness import Figure

HANDOFFS = {"tiny": 1_000, "medium": 10_000, "full": 10_000}
GOAL_SECONDS = 60.0
EMAIL_DOMAIN = "b8-sfa.bench.example"


def _bench_leads(count: int) -> list[int]:
    from leads.models import Lead

    existing = set(
        Lead.objects.filter(email__endswith=f"@{EMAIL_DOMAIN}").values_list("email", flat=True)
    )
    Lead.objects.bulk_create(
        [
            Lead(email=email, last_name="ベンチ", first_name=str(i), company_name=f"B8社{i}")
            for i in range(count)
            for email in [f"lead{i}@{EMAIL_DOMAIN}"]
            if email not in existing
        ],
        batch_size=5_000,
    )
    return list(
        Lead.objects.filter(email__endswith=f"@{EMAIL_DOMAIN}")
        .order_by("pk")
        .values_list("pk", flat=True)[:count]
    )


def run(size: dict) -> list[Figure]:
    from leads.models import Lead
    from sfa_sync.models import Connector
    from sfa_sync.outbox import outbox_dispatch
    from sfa_sync.services import handoffs_request
    from sfa_sync.tests.kintone_server import KintoneServer

    count = HANDOFFS[size["name"]]
    lead_ids = _bench_leads(count)
    server = KintoneServer().start()
    Connector.objects.filter(name="B8 kintone").delete()
    connector = Connector.objects.create(
        name="B8 kintone",
        kind="kintone",
        base_url=server.base_url,
        app_id=server.app,
        api_token=server.token,
        daily_request_budget=10_000,
    )
    try:
        started = time.perf_counter()
        handoffs_request(lead_ids=lead_ids, reason="bench", connector_ids=[connector.pk])
        while len(server.records) < count:
            if not outbox_dispatch(run_seconds=3600):
                raise RuntimeError("the dispatcher stopped before every record was sent")
        seconds = time.perf_counter() - started
        if len(server.records) != count or max(server.puts) > 100:
            raise RuntimeError(f"kintone holds {len(server.records)} records of {count}")
        batches = len(server.puts)
    finally:
        server.stop()
        Connector.objects.filter(pk=connector.pk).delete()
        Lead.objects.filter(email__endswith=f"@{EMAIL_DOMAIN}").delete()
    return [
        Figure(
            bench_id="B8",
            workload=f"{count:,} handoffs to loopback kintone, {batches} upserts of ≤100 records",
            figure="seconds until every record is in kintone",
            unit="s",
            value=seconds,
            baseline=f"goal for {count:,} (10,000 in 60 s)",
            baseline_value=GOAL_SECONDS * count / 10_000,
            samples=[seconds],
        )
    ]
