"""The SSRF guard: webhook deliveries go only to public addresses, unless a setting allows a network.

A host is resolved, and every address it resolves to must be allowed: not private, loopback, link-local,
multicast, reserved, unspecified or otherwise not global (IPv4 addresses inside IPv6 ones, mapped, 6to4,
Teredo or NAT64, are judged as IPv4 too). The sender then connects to an address it was given here, so a
second lookup cannot swap a public answer for a private one (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from domain.errors import InvalidValueError
from domain.webhooks import check_url

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., Sequence[tuple[Any, ...]]]
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
REFUSED = "it is not a public address and not in the allowed networks (PLATFORM_WEBHOOK_ALLOWED_NETWORKS)"


class TargetRefusedError(InvalidValueError):
    """Deliveries may not go there: the host does not resolve, or resolves to an address not allowed.

    Its message never names the addresses a host resolves to: a refusal must not let a caller map internal DNS."""


def _embedded(address: Address) -> list[Address]:
    """The address, and any IPv4 address carried inside an IPv6 one."""
    found: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            found.append(address.ipv4_mapped)
        if address.sixtofour:
            found.append(address.sixtofour)
        if address.teredo:
            found.extend(address.teredo)
        if address in NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _public(address: Address) -> bool:
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


class AddressGuard:
    """Resolves hosts and refuses the addresses deliveries may not go to, except in ``allowed`` networks."""

    def __init__(self, allowed: Iterable[Network] = (), resolve: Resolver = socket.getaddrinfo) -> None:
        self.allowed = tuple(allowed)
        self.resolve = resolve

    def permits(self, address: Address) -> bool:
        if any(address.version == net.version and address in net for net in self.allowed):
            return True
        return all(_public(each) for each in _embedded(address))

    def addresses(self, host: str, port: int) -> list[Address]:
        """Every address the host resolves to, all of them allowed; TargetRefusedError otherwise."""
        try:
            answers = self.resolve(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise TargetRefusedError(f"deliveries may not go to {host}: it does not resolve") from None
        found = list(dict.fromkeys(ipaddress.ip_address(str(answer[4][0]).split("%", 1)[0]) for answer in answers))
        if not found:
            raise TargetRefusedError(f"deliveries may not go to {host}: it does not resolve")
        if not all(self.permits(address) for address in found):
            raise TargetRefusedError(f"deliveries may not go to {host}: {REFUSED}")
        return found

    def check(self, url: str) -> None:
        """Refuses a URL deliveries may not go to (bad form, or a host that resolves to a refused address)."""
        parts = urlsplit(check_url(url))
        assert parts.hostname is not None
        self.addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
