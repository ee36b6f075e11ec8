"""The address of the client behind our proxies, for HTTP requests and WebSocket scopes alike.

`X-Forwarded-For` is believed only when the peer that connected to us is a trusted proxy
(settings.TRUSTED_PROXIES). Each proxy appends the address it received the request from, so
the list is read from the right: trusted proxies are skipped and the first other address is
the client. Everything left of it was written by the client and could be anything.

A peer with no address reached us over a Unix socket, which only a local proxy can do.
"""

from ipaddress import IPv4Address, IPv6Address, ip_address

from django.conf import settings


def client_ip(*, remote_addr: str, forwarded_for: str) -> str:
    """The client's address, normalised, or "" when neither source names a usable one."""
    peer = _parse(remote_addr)
    if remote_addr and (peer is None or not _trusted(peer)):
        return str(peer) if peer else remote_addr
    nearest = str(peer) if peer else ""
    for entry in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
        hop = _parse(entry)
        if hop is None:
            # Only a misconfigured proxy writes junk here; stop at the last hop we can name.
            return nearest
        if not _trusted(hop):
            return str(hop)
        nearest = str(hop)
    # Every hop is one of ours: the request started inside the trusted network.
    return nearest


def request_client_ip(request) -> str:
    return client_ip(
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", ""),
    )


def scope_client_ip(scope) -> str:
    peer = scope.get("client") or ("",)
    # Several X-Forwarded-For headers read as one list, in order, as HTTP says they must.
    forwarded = [value.decode("latin-1") for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"]
    return client_ip(remote_addr=peer[0] or "", forwarded_for=",".join(forwarded))


def _parse(value: str) -> IPv4Address | IPv6Address | None:
    try:
        address = ip_address(value.strip())
    except ValueError:
        return None
    # An IPv4 client seen through a dual-stack socket is still that IPv4 client.
    if isinstance(address, IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: IPv4Address | IPv6Address) -> bool:
    return any(address in network for network in settings.TRUSTED_PROXIES)
