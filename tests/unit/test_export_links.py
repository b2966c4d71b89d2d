"""Export download links: signed over tenant, export and expiry; refused when altered or expired."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from application.export_links import ExportLinks, LinkExpiredError, LinkInvalidError

TENANT, EXPORT = "4f9a1c52-0000-4000-8000-000000000001", "0b8f3c52-9e41-4a7d-8f26-5d1c7e3a9b40"


def links(now: float = 1_000.0) -> ExportLinks:
    return ExportLinks(b"k" * 32, ttl=60, clock=lambda: now)


def signed() -> tuple[str, int, str]:
    url, expires = links().link(TENANT, EXPORT)
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path == f"/v1/tenants/{TENANT}/exports/{EXPORT}/download"
    assert query["expires"] == [str(expires)]
    return url, expires, query["signature"][0]


def test_a_link_expires_after_its_ttl_and_is_accepted_until_then() -> None:
    _, expires, signature = signed()

    assert expires == 1_060
    links(now=1_060).check(TENANT, EXPORT, expires, signature)
    with pytest.raises(LinkExpiredError):
        links(now=1_061).check(TENANT, EXPORT, expires, signature)


@pytest.mark.parametrize(
    ("tenant", "export", "later"),
    [("4f9a1c52-0000-4000-8000-000000000002", EXPORT, 0), (TENANT, TENANT, 0), (TENANT, EXPORT, 3600)],
    ids=["another tenant", "another export", "a later expiry"],
)
def test_a_link_signed_for_something_else_is_refused(tenant: str, export: str, later: int) -> None:
    _, expires, signature = signed()

    with pytest.raises(LinkInvalidError):
        links().check(tenant, export, expires + later, signature)


def test_another_key_does_not_sign_the_same_link() -> None:
    _, expires, signature = signed()

    with pytest.raises(LinkInvalidError):
        ExportLinks(b"o" * 32, ttl=60, clock=lambda: 1_000.0).check(TENANT, EXPORT, expires, signature)
