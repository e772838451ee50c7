"""Demo SFA: Kizuki's own deal list, with the leads in consideration handed over."""

from __future__ import annotations

from decimal import Decimal

from leads.models import Lead, Stage
from sfa_sync.models import Connector, ConnectorKind, Deal
from sfa_sync.outbox import outbox_dispatch
from sfa_sync.services import HandoffReason, handoffs_request

DEMO_DEALS = 5


def load(context) -> None:
    connector, _created = Connector.objects.get_or_create(
        name="Kizuki 商談リスト", defaults={"kind": ConnectorKind.DEALS}
    )
    lead_ids = list(
        Lead.objects.filter(stage__in=[Stage.CONSIDERATION, Stage.TRIAL])
        .order_by("pk")
        .values_list("pk", flat=True)[:DEMO_DEALS]
    )
    handoffs_request(
        lead_ids=lead_ids, reason=HandoffReason.OPPORTUNITY, connector_ids=[connector.pk]
    )
    outbox_dispatch()
    for step, deal in enumerate(Deal.objects.filter(connector=connector, amount__isnull=True)):
        Deal.objects.filter(pk=deal.pk).update(
            amount=Decimal(1_200_000 + 600_000 * step),
            stage=["qualification", "proposal"][step % 2],
        )
    if context.stdout is not None:
        context.stdout.write(f"Deals: {Deal.objects.count()}")
