"""The address a request came from, for counting sign-ins per client.

Behind a reverse proxy (an ingress, a load balancer) every request comes from
the proxy; the proxy names the client in X-Forwarded-For. That header is
believed only from the proxies listed in UPLOADER_TRUSTED_PROXIES: the client
is the last address in it that is not one of them. From anyone else the
header is ignored, since a client can write whatever it likes there.
"""

from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from aiohttp import web

Networks = tuple[IPv4Network | IPv6Network, ...]


def trusted_networks(proxies: tuple[str, ...] | list[str]) -> Networks:
    """The networks of UPLOADER_TRUSTED_PROXIES (addresses or CIDR blocks); raises ValueError on a bad one."""
    return tuple(ip_network(proxy, strict=False) for proxy in proxies)


def client_address(request: web.Request, trusted: Networks) -> str:
    peer = request.remote or ""
    if not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for header in request.headers.getall("X-Forwarded-For", []) for hop in header.split(",")]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return peer


def _is_trusted(address: str, trusted: Networks) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in trusted)
