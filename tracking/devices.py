"""User agents: device type and known bots (never recorded)."""

from __future__ import annotations

import functools
import ipaddress
import re
import socket

from django.conf import settings

_BOT = re.compile(
    r"bot|crawl|spider|slurp|bingpreview|facebookexternalhit|"
    r"python-requests|curl/|wget/|httpclient|go-http-client|java/|okhttp|lighthouse|"
    r"pingdom|uptimerobot|monitor|scan|preview",
    re.IGNORECASE,
)
_TABLET = re.compile(r"ipad|tablet|kindle|silk|(android(?!.*mobile))", re.IGNORECASE)
_MOBILE = re.compile(r"mobi|iphone|ipod|android.*mobile|windows phone", re.IGNORECASE)


def is_bot(user_agent: str) -> bool:
    return not user_agent or bool(_BOT.search(user_agent))


@functools.lru_cache(maxsize=4096)  # a few hundred user agents make most traffic
def device_type(user_agent: str) -> str:
    if _TABLET.search(user_agent or ""):
        return "tablet"
    if _MOBILE.search(user_agent or ""):
        return "mobile"
    return "desktop"


def truncate_ip(ip: str | None) -> str | None:
    """Keep the network, drop the host: /24 for IPv4, /48 for IPv6 (unless the
    TRUNCATE_IP setting is off)."""
    if not ip:
        return None
    return _truncated(ip, bool(settings.KIZUKI_TRUNCATE_IP))


@functools.lru_cache(maxsize=65536)
def _truncated(ip: str, truncate: bool) -> str | None:
    try:
        # IPv4, the common case: inet_pton accepts exactly what ip_address
        # does (four decimal parts, no leading zeros) at a fraction of the cost.
        packed = socket.inet_pton(socket.AF_INET, ip)
    except (OSError, ValueError):
        pass
    else:
        return f"{packed[0]}.{packed[1]}.{packed[2]}.{0 if truncate else packed[3]}"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if not truncate:
        return str(address)
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
