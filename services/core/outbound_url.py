"""Where Steward's own outbound HTTP (org webhooks) may go: a URL an org admin saves may point anywhere.

A URL is accepted when it is https:// (http:// only with STEWARD_WEBHOOK_ALLOW_HTTP=1, for tests and labs), names
a host without user:password, and every address the host resolves to is public: loopback, link-local, private
(RFC 1918, fc00::/7, CGNAT), multicast, unspecified and reserved ranges are refused, IPv4-mapped IPv6 included.
Hosts named in STEWARD_WEBHOOK_ALLOWED_HOSTS (exact names, comma-separated) are allowed on internal addresses.

The check runs when the URL is saved and again before every send (DNS can change between the two); the send
then connects to the address that was checked (`Target.address`), with the URL's host in the Host header and as
the TLS server name, so a second DNS answer cannot redirect it. Redirects are never followed (webhooks.py).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from services.core import settings
from services.core.errors import Invalid

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    url: str  # as saved
    host: str  # the URL's host name (lower case): the TLS server name
    host_header: str  # host[:port] as the URL has it: the Host header
    address: str  # the checked address to connect to
    pinned_url: str  # the URL with the host replaced by that address


def resolve(host: str, port: int) -> list[str]:
    """The addresses a host name resolves to (tests replace this to play a DNS server that changes its answer)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))  # an IP sockaddr starts with the address


def refusal(ip: IPAddress) -> str | None:
    """Why an address may not be a webhook target (None: it may)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    if not ip.is_global:
        return "non-public"
    return None


def _allowed_hosts() -> frozenset[str]:
    return frozenset(h.strip().lower().rstrip(".") for h in settings.WEBHOOK_ALLOWED_HOSTS.split(",") if h.strip())


def check(url: str) -> Target:
    """The URL's checked target, or Invalid with a message a person can act on."""
    parts = urlsplit(url)
    allowed = ("https", "http") if settings.WEBHOOK_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed:
        raise Invalid("The webhook URL must start with https://.", field="url")
    if parts.username is not None or parts.password is not None:
        raise Invalid("The webhook URL must not contain a user name or password.", field="url")
    try:
        host, port = (parts.hostname or "").rstrip("."), parts.port
    except ValueError:
        raise Invalid("The webhook URL has an invalid port.", field="url") from None
    if not host:
        raise Invalid("The webhook URL must name a host.", field="url")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        raise Invalid(f"The webhook host {host} cannot be resolved.", field="url") from None
    if not addresses:
        raise Invalid(f"The webhook host {host} cannot be resolved.", field="url")
    if host not in _allowed_hosts():
        for raw in addresses:
            why = refusal(ipaddress.ip_address(raw.partition("%")[0]))
            if why is not None:
                raise Invalid(f"The webhook host {host} resolves to a {why} address ({raw}). Webhooks may only "
                              "reach public addresses.", field="url")
    address = addresses[0]
    netloc = (f"[{address}]" if ":" in address else address) + (f":{parts.port}" if parts.port else "")
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return Target(url=url, host=host, host_header=parts.netloc, address=address, pinned_url=pinned)
