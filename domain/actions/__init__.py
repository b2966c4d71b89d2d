"""The actions context: versioned action templates, playbooks on KPI conditions, action runs from trigger to
delivery.

An ``ActionTemplate`` is a reusable, versioned action: its kind (http, webhook, nats, email), a parameter schema,
a body template and connector settings that name secrets, never hold them. A ``Playbook`` binds a KPI of a
contract to a condition, an optional dimension filter, a cooldown and ordered steps (template version, parameters,
whether a person must approve). An ``ActionRun`` is one firing: its id derives from the playbook, the KPI version
(SHA-256 of the KPI dataset) and the dimension combination, so the same build never fires a playbook twice. Its
events link trigger (the decision's data) -> approvals -> delivery attempts -> delivered or failed.

One aggregate per module: ``templates``, ``playbooks``, ``runs``. Their classes were in ``domain/actions.py`` until
issue 14; events stored under those topics still decode (``eventstore/moved_topics.py``).
"""

from __future__ import annotations

from uuid import UUID

ACTIONS_NAMESPACE = UUID("8d1e4b6a-27c3-4f95-a0d8-6b3e9c1f2a57")
"""The namespace of the context's derived ids (templates, playbooks, runs)."""
