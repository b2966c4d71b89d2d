"""The `platform` command: one module per group of commands, assembled into one parser by ``main``.

serve (the API), workers (projections, consumers, relay, orchestrator, scheduler, webhooks), replay, keys (keys,
token), ingest (ingest, demo), dlq, actions, audit; ``main`` lists them in the order ``--help`` shows.
"""

from __future__ import annotations

from interfaces.cli.main import main

__all__ = ["main"]
