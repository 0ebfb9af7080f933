"""The one way the portal makes an outbound HTTP request (today: webhook deliveries; the PDF renderer
fetches nothing at all, see fulfillment/documents.py).

Policy: only globally routable addresses. `ipaddress`'s `is_global` is the base; it misses, and so
this refuses too, shared address space (100.64.0.0/10, where cloud metadata services and overlay
networks live), the IETF protocol block 192.0.0.0/24, the 6to4 relay anycast, benchmarking and
reserved ranges, multicast, IPv4-compatible IPv6 (::/96) and the local-use NAT64 prefix; IPv6 forms
that carry an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64 64:ff9b::/96) are judged by the IPv4
address inside. The name is resolved once, every address it resolves to is checked, and the
connection goes to the checked address (the Host header and TLS SNI and certificate check still use
the name), so a second lookup cannot point the request somewhere else (DNS rebinding). Redirects are
not followed. Connect and read have their own short timeouts."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

_NOT_GLOBAL = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.88.99.0/24", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    "::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
)]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(Exception):
    """The URL or the address it resolves to is not allowed; the message says why, for people."""


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, 6to4, Teredo client, NAT64), if any."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_loopback: bool = False) -> str | None:
    """Why the portal must not connect to this address, or None."""
    if allow_loopback and address.is_loopback:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            problem = address_problem(inner)
            if problem:
                return problem
    if not address.is_global or address.is_multicast or any(address in network for network in _NOT_GLOBAL):
        return f"{address} is not a public internet address"
    return None


def _lookup(host: str, port: int) -> list:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)


def _connect(address: str, port: int, timeout: float) -> socket.socket:
    return socket.create_connection((address, port), timeout=timeout)


def resolve(host: str, port: int, *, allow_loopback: bool = False) -> str:
    """Resolve once and check every address the name has; the address to connect to."""
    try:
        infos = _lookup(host, port)
    except (socket.gaierror, UnicodeError, ValueError):
        raise Refused(f"The host {host} cannot be resolved.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for raw in addresses:
        problem = address_problem(ipaddress.ip_address(raw.split("%")[0]), allow_loopback=allow_loopback)
        if problem:
            raise Refused(f"{host} points at a private address ({problem}); use a public endpoint.")
    if not addresses:
        raise Refused(f"The host {host} cannot be resolved.")
    return addresses[0]


def _shape_problem(url: str, *, allow_insecure: bool) -> str | None:
    if not url.isascii() or any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        return "Use a URL of plain ASCII characters without spaces (encode anything else, e.g. %E2%80%AE)."
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "Use an absolute https:// URL."
    if parts.scheme != "https" and not allow_insecure:
        return "Use https."
    if parts.username or parts.password:
        return "Put no credentials in the URL; verify our signature instead."
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "The port is not a number."
    return None


def _port(parts) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def url_problem(url: str, *, allow_insecure: bool) -> str | None:
    """Why this URL cannot be a destination (scheme, credentials, characters, where it resolves), or None."""
    problem = _shape_problem(url, allow_insecure=allow_insecure)
    if problem:
        return problem
    parts = urlsplit(url)
    try:
        resolve(parts.hostname, _port(parts), allow_loopback=allow_insecure)
    except Refused as exc:
        return str(exc)
    return None


@dataclass
class Answer:
    status: int


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, *, address: str, connect_timeout: float, read_timeout: float):
        super().__init__(host, port, timeout=read_timeout)
        self._address, self._connect_timeout = address, connect_timeout

    def connect(self):
        self.sock = _connect(self._address, self.port, self._connect_timeout)
        self.sock.settimeout(self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, address: str, connect_timeout: float, read_timeout: float):
        super().__init__(host, port, timeout=read_timeout, context=ssl.create_default_context())
        self._address, self._connect_timeout = address, connect_timeout

    def connect(self):
        sock = _connect(self._address, self.port, self._connect_timeout)
        sock.settimeout(self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # SNI and the certificate check use the name


def post(url: str, *, body: bytes, headers: dict, allow_insecure: bool, connect_timeout: float, read_timeout: float) -> Answer:
    """POST once under the policy. Raises Refused (policy), OSError (network, timeouts) or
    http.client.HTTPException (a malformed answer). Never follows a redirect: a 3xx is an answer."""
    problem = _shape_problem(url, allow_insecure=allow_insecure)
    if problem:
        raise Refused(problem)
    parts = urlsplit(url)
    port = _port(parts)
    address = resolve(parts.hostname, port, allow_loopback=allow_insecure)  # the one lookup; we connect to what it checked
    kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = kind(parts.hostname, port, address=address, connect_timeout=connect_timeout, read_timeout=read_timeout)
    try:
        connection.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body=body, headers=headers)
        response = connection.getresponse()
        response.read(64 * 1024)  # the receiver's answer is not ours to keep; read a little so the connection ends cleanly
        return Answer(status=response.status)
    finally:
        connection.close()
