"""Where Dealgate may send: http(s) to public addresses only (OWASP's server-side request
forgery defence), unless the allow-list names the network.

A subscription's host is checked when it is written and again before every send, after
DNS resolution, and the send goes to the very address that was checked (the URL's host
kept as the Host header and TLS server name): a name that resolves to a public address
when it is registered and to 127.0.0.1 later (DNS rebinding) is refused at send time.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


class DestinationRefused(Exception):
    """The URL may not be sent to; the message says why, for the person who gave it."""


# IPv6 prefixes that carry an IPv4 address in their last 32 bits, reaching it through a
# translator: NAT64 (RFC 6052, 8215), and the IPv4-compatible and -translated forms.
EMBEDDING_IPV4: tuple[ipaddress.IPv6Network, ...] = tuple(
    ipaddress.IPv6Network(prefix)
    for prefix in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96", "::ffff:0:0:0/96")
)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address not in (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1")) and any(
        address in prefix for prefix in EMBEDDING_IPV4
    ):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: Address, allowed: Sequence[Network]) -> str | None:
    """Why `address` may not be sent to, or None when it may."""
    if any(address in network for network in allowed):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            reason = refusal(inner, allowed)
            return f"{reason} inside an IPv6 address" if reason else None
        if address.is_site_local:
            return "a site-local address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if not address.is_global or address.is_multicast:
        return "not a public address"
    return None


@dataclass(frozen=True)
class Destination:
    """A URL whose host resolved to an address that may be sent to."""

    url: httpx.URL
    address: Address

    def pinned(self) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
        """The URL to connect to (the checked address), the Host header and the request
        extensions that keep the name for TLS."""
        headers = {"Host": self.url.netloc.decode("ascii")}
        extensions = {"sni_hostname": self.url.host} if self.url.scheme == "https" else {}
        return self.url.copy_with(host=str(self.address)), headers, extensions


async def resolve(url: str, allowed: Sequence[Network]) -> Destination:
    """Checks `url` and its host's addresses; raises DestinationRefused."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise DestinationRefused(f"the URL is not valid: {error}") from None
    if parsed.scheme not in ("http", "https"):
        raise DestinationRefused("only http and https URLs are sent to")
    if not parsed.host:
        raise DestinationRefused("the URL has no host")
    if parsed.userinfo:
        raise DestinationRefused("the URL may not carry a user name or password")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(parsed.host)]
    except ValueError:
        addresses = await _lookup(parsed.host, port)
    for address in addresses:
        reason = refusal(address, allowed)
        if reason is not None:
            raise DestinationRefused(
                f"{parsed.host} is {reason} ({address}); only public addresses are sent to, "
                "unless COMMITMENTS_WEBHOOK_ALLOWED_NETWORKS names its network"
            )
    return Destination(url=parsed, address=addresses[0])


async def _lookup(host: str, port: int) -> list[Address]:
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise DestinationRefused(f"{host} does not resolve ({error})") from None
    addresses = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0].partition("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise DestinationRefused(f"{host} does not resolve")
    return addresses
