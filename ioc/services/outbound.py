"""Where the hub may open camera streams: the rule against server-side request forgery.

The hub opens two kinds of outbound connection for users: a camera shared into a
meeting (`POST /api/v1/meetings/{id}/share-camera`, an RTSP or MJPEG URL, or a camera's
edge preview) and the live preview proxy (`GET /api/v1/cameras/{id}/preview.mjpg`).
Neither may become a way to make the hub fetch what a user or an edge names:

- a URL a user gives must be rtsp(s):// or http(s):// and every address its host
  resolves to must be a public one, or lie in `IOC_CAMERA_HOSTS_ALLOW` (CIDR networks
  and host names an admin configured for the centre's cameras): no loopback,
  link-local (cloud metadata), private, multicast or reserved address otherwise;
- an edge's preview URL is followed only to the address the edge's own heartbeat came
  from (`edges.preview_from`), or to the allow list.

Example::

    allow = parse_allow(["10.20.0.0/16", "cam-gw.local"])
    await check_share_url("rtsp://10.20.1.5:554/stream1", allow)      # fine
    await check_share_url("http://127.0.0.1:8000/internal", allow)    # InvalidInput
    check_preview_url("http://10.9.0.7:8090", peer="10.9.0.7", allow=allow)   # fine
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ioc.exceptions import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SHARE_SCHEMES = ("rtsp", "rtsps", "http", "https")
PREVIEW_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class AllowList:
    """Networks and host names configured as camera hosts."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in net for net in self.networks if net.version == address.version)


def parse_allow(values: list[str]) -> AllowList:
    """`["10.20.0.0/16", "192.0.2.7", "cam-gw.local"]` -> AllowList; ValueError for junk."""
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for raw in values:
        value = raw.strip().lower()
        if not value:
            raise ValueError("an empty entry in the camera host allow list")
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
            continue
        except ValueError:
            pass
        if not all(part and len(part) <= 63 and part.replace("-", "").isalnum() for part in value.rstrip(".").split(".")):
            raise ValueError(f"{raw!r} is neither a network (CIDR) nor a host name")
        hosts.add(value.rstrip("."))
    return AllowList(tuple(networks), frozenset(hosts))


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _parts(url: str, schemes: tuple[str, ...]) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError as exc:
        raise InvalidInput(f"not a usable stream URL: {exc}") from exc
    if parts.scheme.lower() not in schemes or not host:
        raise InvalidInput(f"a camera URL must be {', '.join(s + '://' for s in schemes)} with a host")
    return parts.scheme.lower(), host.lower().rstrip(".")


async def _resolve(host: str) -> list[IPAddress]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(f"camera host {host!r} cannot be resolved") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check_share_url(url: str, allow: AllowList) -> None:
    """InvalidInput unless the hub may open this user-given stream URL (see module doc)."""
    _, host = _parts(url, SHARE_SCHEMES)
    if allow.allows_host(host):
        return
    addresses = await _resolve(host)
    refused = [a for a in addresses if not (allow.allows_address(a) or _public(a))]
    if refused or not addresses:
        # Said without naming what is there: the answer must not help map the network.
        raise InvalidInput(
            f"camera host {host!r} is not a public address nor one of the centre's camera networks"
            " (an admin lists those in IOC_CAMERA_HOSTS_ALLOW); share a camera of the hub by its id instead"
        )


def check_preview_url(url: str, *, peer: str | None, allow: AllowList) -> None:
    """InvalidInput unless an edge's preview URL points at the edge itself (`peer`, the
    address its heartbeat came from) or at an allow-listed host or network. Only address
    literals are compared with `peer`: a host name would be resolved again at fetch time."""
    _, host = _parts(url, PREVIEW_SCHEMES)
    if allow.allows_host(host):
        return
    address = _literal(host)
    if address is not None:
        if allow.allows_address(address):
            return
        peer_address = _literal(peer) if peer else None
        if peer_address is not None and _same(address, peer_address):
            return
    raise InvalidInput(
        f"preview_url host {host!r} is not this edge's own address nor in IOC_CAMERA_HOSTS_ALLOW;"
        " announce the preview on the address the edge connects from"
    )


def _same(a: IPAddress, b: IPAddress) -> bool:
    def plain(x: IPAddress) -> IPAddress:
        if isinstance(x, ipaddress.IPv6Address) and x.ipv4_mapped is not None:
            return x.ipv4_mapped
        return x

    return plain(a) == plain(b)
