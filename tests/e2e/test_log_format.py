"""The API keeps the logging the process set up (PLATFORM_LOG_FORMAT): compose runs the API servers with JSON logs,
and Litestar's own logging configuration used to replace the root logger's handler with its plain-text one."""

from __future__ import annotations

import logging

from litestar.testing import TestClient

from adapters.telemetry import JsonFormatter, configure_logging
from interfaces.bootstrap import Platform
from interfaces.http.app import create_app


def test_serving_keeps_the_json_log_handler_the_cli_installed(platform: Platform) -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        handler = configure_logging("INFO", json=True)
        with TestClient(create_app(platform)) as client:
            assert client.get("/health").status_code == 200
        assert root.handlers == [handler]
        assert isinstance(handler.formatter, JsonFormatter)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
