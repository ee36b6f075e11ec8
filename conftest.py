"""Fixtures shared by every app's tests: tenants, tenant context, a clean Redis prefix."""

import psycopg
import pytest
import redis
from django.conf import settings

from chatorical import tenancy

pytest_plugins = ["chatorical.testing"]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """The test database is dropped at the end even though the socket tests' database
    threads (channels' executor) still hold connections to it: they are ended first,
    so the next run starts clean. Only sessions on this run's own test database."""
    yield
    from django.db import connection

    with psycopg.connect(
        host=connection.settings_dict["HOST"],
        port=connection.settings_dict["PORT"],
        user=connection.settings_dict["USER"],
        password=connection.settings_dict["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (connection.settings_dict["NAME"],),
        )


@pytest.fixture(autouse=True, scope="session")
def _clean_redis_prefix():
    """Tests share the developer's Redis; they only ever touch keys under their own prefix."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(f"{settings.REDIS_KEY_PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)
    yield
    client.close()


@pytest.fixture(autouse=True)
def _unspent_rate_limits():
    """Each test starts with every rate limit unspent: most of them come from 127.0.0.1."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(f"{settings.REDIS_KEY_PREFIX}:rl:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(autouse=True)
def _empty_cache():
    """The database is rolled back after each test; the cache must forget it too."""
    from django.core.cache import cache

    cache.delete_pattern("*")


@pytest.fixture
def default_tenant(db):
    from tenants.models import Tenant

    # Transactional tests flush the rows the data migration created; put it back.
    tenant, _ = Tenant.objects.get_or_create(slug=settings.DEFAULT_TENANT_SLUG, defaults={"name": "Default"})
    return tenant


@pytest.fixture
def other_tenant(db):
    from tenants.models import Tenant

    return Tenant.objects.create(slug="acme", name="Acme")


@pytest.fixture
def in_default_tenant(default_tenant):
    with tenancy.tenant_context(default_tenant):
        yield default_tenant


def _tenant_world(slug: str):
    """A tenant with one conversation, two messages and an API key holding every scope."""
    from types import SimpleNamespace

    from conversations.models import Message
    from conversations.tests.factories import conversation_for, message_for
    from tenants.models import ApiKey, Tenant
    from tenants.services import api_key_create

    tenant = Tenant.objects.create(slug=slug, name=f"Tenant {slug}", allowed_origins=[f"https://{slug}.example"])
    conversation = conversation_for(tenant, visitor_name=f"Visitor of {slug}")
    messages = [
        message_for(conversation, text=f"hello from {slug}"),
        message_for(conversation, text=f"answer of {slug}", direction=Message.Direction.OUTBOUND, agent_name="Agent"),
    ]
    issued = api_key_create(tenant=tenant, name=f"{slug} integration", scopes=list(ApiKey.Scope.values))
    return SimpleNamespace(
        tenant=tenant, conversation=conversation, messages=messages, api_key=issued.api_key, key=issued.raw_key
    )


@pytest.fixture
def tenant_a(db):
    """`.tenant`, `.conversation`, `.messages`, `.api_key` and `.key` (the raw API key)."""
    return _tenant_world("tenant-a")


@pytest.fixture
def tenant_b(db):
    """Like tenant_a, for a second tenant."""
    return _tenant_world("tenant-b")
