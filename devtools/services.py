"""The demo data of a local run (`manage.py demo`): the admin login and the demo tenant."""

import json
import os
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from chatorical import tenancy
from conversations.models import Conversation
from tenants.models import ApiKey, Tenant
from tenants.services import IssuedApiKey, api_key_create, api_key_revoke, tenant_create

# The generated admin password is kept here (git-ignored) so every `make run` can print it.
ADMIN_LOGIN_FILE = settings.BASE_DIR / "var" / "dev-admin-login.json"
DEFAULT_ADMIN_USERNAME = "admin"


@dataclass(frozen=True)
class AdminLogin:
    username: str
    password: str  # "" when it comes from DJANGO_SUPERUSER_PASSWORD and is not echoed
    source: str  # "created", "kept" or "reset"


def _wanted_login() -> tuple[str, str, bool]:
    """(username, password, from the environment): DJANGO_SUPERUSER_* first, as createsuperuser reads them."""
    username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "").strip()
    password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
    if username and password:
        return username, password, True
    if ADMIN_LOGIN_FILE.exists():
        stored = json.loads(ADMIN_LOGIN_FILE.read_text())
        return stored["username"], stored["password"], False
    return DEFAULT_ADMIN_USERNAME, secrets.token_urlsafe(12), False


@transaction.atomic
def admin_login_ensure(*, reset: bool) -> AdminLogin:
    """A superuser to log into /admin/ with: created once, its password set again on reset."""
    username, password, from_env = _wanted_login()
    if reset and not from_env:
        password = secrets.token_urlsafe(12)
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        user_model.objects.create_superuser(username=username, email="", password=password)
        source = "created"
    elif reset or not user.check_password(password):
        user.set_password(password)
        user.is_staff = user.is_superuser = user.is_active = True
        user.save()
        source = "reset"
    else:
        source = "kept"
    if not from_env:
        ADMIN_LOGIN_FILE.parent.mkdir(exist_ok=True)
        ADMIN_LOGIN_FILE.write_text(json.dumps({"username": username, "password": password}))
        ADMIN_LOGIN_FILE.chmod(0o600)
    return AdminLogin(username=username, password="" if from_env else password, source=source)


def demo_origins() -> list[str]:
    return [f"http://127.0.0.1:{settings.PORT}", f"http://localhost:{settings.PORT}"]


@transaction.atomic
def demo_tenant_ensure(*, reset: bool) -> IssuedApiKey | None:
    """The demo tenant with an API key holding every scope; on reset, its conversations gone,
    its keys revoked and a new key. Returns the new key, or None when the tenant was kept."""
    tenant = Tenant.objects.filter(slug=settings.DEMO_TENANT_SLUG).first()
    if tenant is not None and not reset:
        return None
    if tenant is None:
        tenant = tenant_create(slug=settings.DEMO_TENANT_SLUG, name="Demo Shop", origins=demo_origins(), plan="pro")
    else:
        # The tenant row itself stays: its audit entries are append-only and name it.
        with tenancy.tenant_context(tenant):
            Conversation.objects.all().delete()
            for api_key in ApiKey.objects.filter(revoked_at__isnull=True):
                api_key_revoke(api_key=api_key)
    return api_key_create(tenant=tenant, name="demo", scopes=list(ApiKey.Scope.values))
