"""Will Mattermost agree to call learnloop? It refuses integration URLs on loopback, private and
link-local addresses unless the host or address is listed in
`ServiceSettings.AllowedUntrustedInternalConnections` (whitespace- or comma-separated host names,
IP addresses and CIDR ranges)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def internal_addresses(url: str) -> list[Address]:
    """The loopback/private/link-local addresses the URL's host resolves to (as seen from here)."""
    host = urlsplit(url).hostname or ""
    try:
        addresses: list[Address] = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return []
        addresses = list({ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos})
    return [a for a in addresses if a.is_loopback or a.is_private or a.is_link_local or a.is_unspecified]


def allowed_untrusted(setting: str, host: str, addresses: list[Address]) -> bool:
    """Mattermost's rule: the host name, or every internal address, is covered by an entry."""
    entries = setting.replace(",", " ").split()
    if any(entry.casefold() == host.casefold() for entry in entries):
        return True
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return bool(addresses) and all(any(a in network for network in networks) for a in addresses)


def untrusted_problem(public_url: str, setting: str) -> str | None:
    """What to fix when Mattermost would refuse to call `public_url`, else None."""
    addresses = internal_addresses(public_url)
    if not addresses:
        return None
    host = urlsplit(public_url).hostname or ""
    if allowed_untrusted(setting, host, addresses):
        return None
    shown = ", ".join(str(a) for a in addresses)
    return (f"Mattermost will refuse to call {public_url} ({host} is the internal address {shown}): add '{host}' "
            "to System Console → Environment → Developer → 'Allow untrusted internal connections to' "
            "(ServiceSettings.AllowedUntrustedInternalConnections), or set LEARNLOOP_PUBLIC_URL to an address "
            "Mattermost may call")
