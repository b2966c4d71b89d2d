"""Shared fixtures: throwaway PostgreSQL schemas and NATS streams, so test runs never see each other's data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import redis
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests import s3

POSTGRES_URL = os.environ.get("PLATFORM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
NATS_URL = os.environ.get("PLATFORM_TEST_NATS_URL", "nats://127.0.0.1:4222")
REDIS_URL = os.environ.get("PLATFORM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _libpq(url: str) -> str:
    return url.split("?", 1)[0]


@contextmanager
def new_pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema name, dropped with everything in it at the end."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def event_store_url_in(schema: str) -> str:
    """An event-store URL (PostgreSQL) whose tables live in the schema."""
    return f"{_libpq(POSTGRES_URL)}?schema={schema}"


@contextmanager
def new_pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database URL (for read models), dropped at the end."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = _libpq(POSTGRES_URL)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield admin.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema name, dropped with everything in it after the test."""
    with new_pg_schema() as schema:
        yield schema


@pytest.fixture
def pg_event_store_url(pg_schema: str) -> str:
    """An event-store URL (PostgreSQL) whose tables live in a schema of their own."""
    return event_store_url_in(pg_schema)


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database URL (for read models), dropped after the test."""
    with new_pg_database() as url:
        yield url


@pytest.fixture
def nats_url() -> str:
    return NATS_URL


@pytest.fixture
def stream_name() -> str:
    """A JetStream stream name no other test run uses; tests delete it when done."""
    return f"T_{uuid.uuid4().hex[:12].upper()}"


@pytest.fixture(scope="session")
def session_span_exporter() -> InMemorySpanExporter:
    """The test session's one tracer provider (OpenTelemetry allows setting it once), exporting to memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def span_exporter(session_span_exporter: InMemorySpanExporter) -> InMemorySpanExporter:
    """Finished spans of this test only."""
    session_span_exporter.clear()
    return session_span_exporter


@pytest.fixture(scope="session")
def s3_server() -> Iterator[s3.S3Server]:
    """A moto S3 server for the session: its own process on a free loopback port, stopped by its pid."""
    server, process = s3.start()
    yield server
    s3.stop(server.pid)
    process.wait(timeout=10)


@pytest.fixture
def redis_store_url() -> Iterator[str]:
    """A PLATFORM_RATE_LIMIT_STORE URL whose keys carry a prefix of their own, deleted after the test."""
    prefix = f"t-{uuid.uuid4().hex[:12]}:"
    yield f"{REDIS_URL}?prefix={prefix}"
    with redis.Redis.from_url(REDIS_URL) as client:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
