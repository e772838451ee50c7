"""Connectors, the outbox of handoffs and syncs, inbound won/lost updates."""
