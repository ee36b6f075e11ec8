"""The tenant context: which tenant the current request, socket, webhook or task acts for.

Every tenant-owned model's default manager (chatorical/tenant_models.py) filters by it and
raises when it is missing. `cross_tenant()` is the one escape hatch, for system jobs that
must see every tenant.
"""

import contextvars
import functools
import logging
from contextlib import contextmanager
from dataclasses import dataclass

from chatorical import tracing
from chatorical.errors import NotFound

logger = logging.getLogger(__name__)


class TenantNotFound(NotFound):
    """No active tenant has the slug a request names."""

    code = "tenant_not_found"
    message = "No such tenant."


class TenantContextMissing(RuntimeError):
    """A tenant-owned table was queried with no tenant in context."""


class TenantMismatch(RuntimeError):
    """A tenant-owned row was written under another tenant's context."""


@dataclass(frozen=True)
class TenantRef:
    id: int
    slug: str


class _CrossTenant:
    def __init__(self, reason: str):
        self.reason = reason


_scope: contextvars.ContextVar["TenantRef | _CrossTenant | None"] = contextvars.ContextVar(
    "chatorical_tenant", default=None
)


def current_tenant() -> TenantRef | None:
    scope = _scope.get()
    return scope if isinstance(scope, TenantRef) else None


def require_tenant() -> TenantRef:
    tenant = current_tenant()
    if tenant is None:
        raise TenantContextMissing("no tenant in context")
    return tenant


def is_cross_tenant() -> bool:
    return isinstance(_scope.get(), _CrossTenant)


def current_scope() -> "TenantRef | _CrossTenant | None":
    return _scope.get()


@contextmanager
def tenant_context(tenant):
    """Act for `tenant` (a Tenant or TenantRef) inside the block."""
    token = _scope.set(TenantRef(id=tenant.id, slug=tenant.slug))
    try:
        with tracing.tenant_marked(tenant.slug):
            yield
    finally:
        _scope.reset(token)


@contextmanager
def cross_tenant(reason: str):
    """The escape hatch for jobs that must see every tenant. Grep for it in reviews."""
    logger.debug("cross-tenant scope entered: %s", reason)
    token = _scope.set(_CrossTenant(reason))
    try:
        with tracing.tenant_marked(None):
            yield
    finally:
        _scope.reset(token)


def in_current_context(fn):
    """Wrap `fn` so that a thread running it sees the caller's tenant context."""
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return context.run(fn, *args, **kwargs)

    return wrapper


async def run_for_tenant(tenant, fn, /, *args, **kwargs):
    """Runs the blocking `fn` in Channels' database thread, acting for `tenant`."""
    from channels.db import database_sync_to_async

    def call():
        with tenant_context(tenant):
            return fn(*args, **kwargs)

    # Not thread-sensitive: calls for different conversations run on several threads (each
    # with its own connection) instead of queueing behind one another.
    return await database_sync_to_async(call, thread_sensitive=False)()
