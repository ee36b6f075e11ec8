"""Who is acting, for the audit trail (chatorical/audit_trail.py): set explicitly by the
CLI, Telegram updates and system jobs (`acting_as`), else read from the request being
served (AuditRequestMiddleware)."""

import contextvars
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from chatorical.client_ip import request_client_ip
from chatorical.http import service_token_valid
from chatorical.logs import request_id_var


@dataclass(frozen=True)
class Actor:
    type: str
    id: str = ""
    name: str = ""


_actor: contextvars.ContextVar["Actor | None"] = contextvars.ContextVar("audit_actor", default=None)
_request: contextvars.ContextVar = contextvars.ContextVar("audit_request", default=None)


@contextmanager
def acting_as(actor: Actor):
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def cli_actor(command: str) -> Actor:
    return Actor(type="cli", id=command[:64], name=f"manage.py {command}"[:200])


def system_actor(job: str) -> Actor:
    return Actor(type="system", id=job[:64], name=job[:200])


def telegram_agent_actor(*, user_id: int, name: str) -> Actor:
    return Actor(type="telegram_agent", id=str(user_id), name=name[:200])


class AuditRequestMiddleware:
    """Makes the request being served known to audit records made while serving it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def current_actor() -> Actor:
    explicit = _actor.get()
    if explicit is not None:
        return explicit
    request = _request.get()
    if request is None:
        return system_actor("unattributed")
    # DRF hands the authenticated key to the underlying request as `auth`.
    api_key = getattr(request, "auth", None)
    if api_key is not None and hasattr(api_key, "prefix"):
        return Actor(type="api_key", id=api_key.prefix, name=api_key.name)
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False) and hasattr(user, "get_username"):
        return Actor(type="admin_user", id=str(user.pk), name=user.get_username())
    if service_token_valid(request):
        return Actor(type="service_token", id="service_token", name="SERVICE_TOKEN")
    return Actor(type="system", id="anonymous_request", name="request without credentials")


def current_request_facts() -> tuple[str, str]:
    """The request id and the keyed hash of the client IP, or blanks outside a request."""
    request = _request.get()
    request_id = request_id_var.get()
    if request is None:
        return ("" if request_id == "-" else request_id), ""
    return getattr(request, "request_id", request_id), client_ip_hash(request_client_ip(request))


def client_ip_hash(ip: str) -> str:
    # Keyed (with a key of its own, derived from SECRET_KEY), so the hash of a known
    # address cannot be computed by someone who reads the audit log.
    key = hashlib.sha256(b"audit-client-ip:" + settings.SECRET_KEY.encode()).digest()
    return hashlib.blake2b(ip.encode(), key=key, digest_size=16).hexdigest()
