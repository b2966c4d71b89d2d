"""One trace from the HTTP request through the command to the stored event's traceparent."""

from __future__ import annotations

import uuid

from litestar.testing import TestClient

from interfaces.bootstrap import Platform


def test_http_span_parents_the_command_span_whose_context_is_stored_with_the_event(
    client: TestClient, platform: Platform, span_exporter
) -> None:
    caller_trace = "0af7651916cd43dd8448eb211c80319c"
    response = client.post(
        "/v1/tenants",
        json={"slug": "traced", "display_name": "Traced"},
        headers={"traceparent": f"00-{caller_trace}-b7ad6b7169203331-01"},
    )
    assert response.status_code == 201
    spans = {span.name: span for span in span_exporter.get_finished_spans()}
    http, command = spans["HTTP POST /v1/tenants"], spans["command onboard_tenant"]
    assert f"{http.context.trace_id:032x}" == caller_trace
    assert command.parent is not None
    assert command.parent.span_id == http.context.span_id
    stored = platform.store.read_stream(uuid.UUID(response.json()["tenant_id"]))[0]
    assert stored.metadata.traceparent == f"00-{caller_trace}-{command.context.span_id:016x}-01"
