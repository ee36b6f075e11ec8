"""Settings, read from the environment. See README.md ("Configuration") for every variable."""

import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from chatorical.env import (
    dev_secret,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_str,
    random_fernet_key,
    random_token,
)
from chatorical.redis_urls import cache_settings, celery_broker, channel_layer_host, sentinel_target

BASE_DIR = Path(__file__).resolve().parent.parent

DJANGO_ENV = env_choice("DJANGO_ENV", "dev", ("dev", "prod"))
IS_PROD = DJANGO_ENV == "prod"
DEBUG = env_bool("DEBUG", False)

# Which parts run on embedded stand-ins because their URL is missing; `make run` prints it.
EMBEDDED_DEFAULTS: list[str] = []

# --- secrets -----------------------------------------------------------------------------
SERVICE_TOKEN = env_str("SERVICE_TOKEN")
CONVERSATION_JWT_SECRET = env_str("CONVERSATION_JWT_SECRET")
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
# Fernet keys for tenant secrets at rest; the first encrypts, all decrypt (rotation).
CHANNEL_CONFIG_KEYS = env_list("CHANNEL_CONFIG_KEYS")

# prod's requirements are checked together at the end of this file (chatorical/prod_settings.py).
if not IS_PROD:
    # No secret has a default in the code, where anyone could read it: dev makes random
    # ones once per checkout and keeps them (`make run` needs no setting).
    DEV_SECRETS_DIR = Path(env_str("DEV_SECRETS_DIR") or BASE_DIR / "var" / "dev-secrets")
    CONVERSATION_JWT_SECRET = CONVERSATION_JWT_SECRET or dev_secret(
        "CONVERSATION_JWT_SECRET", DEV_SECRETS_DIR, random_token
    )
    SECRET_KEY = SECRET_KEY or dev_secret("DJANGO_SECRET_KEY", DEV_SECRETS_DIR, random_token)
    CHANNEL_CONFIG_KEYS = CHANNEL_CONFIG_KEYS or [dev_secret("CHANNEL_CONFIG_KEYS", DEV_SECRETS_DIR, random_fernet_key)]

# A bearer for Prometheus and monitors: /metrics and the detail of /ready, nothing else.
METRICS_TOKEN = env_str("METRICS_TOKEN")

# --- Telegram ----------------------------------------------------------------------------
TELEGRAM_API_BASE = env_str("TELEGRAM_API_BASE", "https://api.telegram.org").rstrip("/")
TELEGRAM_TIMEOUT_SECONDS = env_float("TELEGRAM_TIMEOUT_SECONDS", 10.0)
# Telegram's published budgets, kept a little under them.
TELEGRAM_GROUP_POSTS_PER_MINUTE = env_int("TELEGRAM_GROUP_POSTS_PER_MINUTE", 19)
TELEGRAM_BOT_POSTS_PER_SECOND = env_int("TELEGRAM_BOT_POSTS_PER_SECOND", 28)
# The default tenant's bot comes from the environment, as in v1.
BOT_TOKEN = env_str("BOT_TOKEN")
SUPPORT_GROUP_ID = env_str("SUPPORT_GROUP_ID")
WEBHOOK_SECRET = env_str("WEBHOOK_SECRET")
TELEGRAM_HEADER_SECRET = env_str("TELEGRAM_HEADER_SECRET")
# A path secret is the only proof a v2 update carries; a short one could be guessed.
WEBHOOK_SECRET_MIN_CHARS = 32
if WEBHOOK_SECRET and len(WEBHOOK_SECRET) < WEBHOOK_SECRET_MIN_CHARS:
    raise ImproperlyConfigured(f"WEBHOOK_SECRET must be at least {WEBHOOK_SECRET_MIN_CHARS} characters")

# --- Bot API sandbox (dev) ---------------------------------------------------------------
# `make run` without BOT_TOKEN starts the strict fake Bot API as a local server
# (telegram_bridge/sandbox.py, `manage.py telegram_sandbox`) and points the default tenant's
# bot at it; its support group is the page /dev/support-group/. The token and group are the
# sandbox's own, not secrets; the header secret is drawn by deploy/run-local.sh per run.
TELEGRAM_SANDBOX = env_bool("TELEGRAM_SANDBOX", False)
TELEGRAM_SANDBOX_PORT = env_int("TELEGRAM_SANDBOX_PORT", 4013)
TELEGRAM_SANDBOX_BOT_TOKEN = "7000000002:SandboxBotTokenForLocalDevelopmentOnly"
TELEGRAM_SANDBOX_GROUP_ID = -1009000000001
if TELEGRAM_SANDBOX:
    if IS_PROD:
        raise ImproperlyConfigured("TELEGRAM_SANDBOX stands in for Telegram in development; DJANGO_ENV=prod refuses it")
    if BOT_TOKEN:
        raise ImproperlyConfigured("TELEGRAM_SANDBOX replaces the bot: unset BOT_TOKEN or TELEGRAM_SANDBOX")
    if not TELEGRAM_HEADER_SECRET:
        raise ImproperlyConfigured("TELEGRAM_SANDBOX needs TELEGRAM_HEADER_SECRET (deploy/run-local.sh draws one)")
    TELEGRAM_API_BASE = f"http://127.0.0.1:{TELEGRAM_SANDBOX_PORT}"
    BOT_TOKEN = TELEGRAM_SANDBOX_BOT_TOKEN
    SUPPORT_GROUP_ID = str(TELEGRAM_SANDBOX_GROUP_ID)
# `manage.py demo` (run by `make run` in dev): the demo tenant, its API key and the admin login.
DEMO_TENANT_SLUG = "demo"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if IS_PROD else "*")
PORT = env_int("PORT", 4012)

# --- tenancy -----------------------------------------------------------------------------
TENANT_ENFORCEMENT = env_choice("TENANT_ENFORCEMENT", "strict", ("strict", "warn"))
DEFAULT_TENANT_SLUG = "default"
WIDGET_ALLOWED_ORIGINS = env_list("WIDGET_ALLOWED_ORIGINS")

# --- conversations -----------------------------------------------------------------------
V1_TOKEN_TTL_SECONDS = env_int("V1_TOKEN_TTL_DAYS", 7) * 24 * 3600
# The v2 widget fetches a fresh single-use token before every connect: minutes are plenty.
V2_TOKEN_TTL_SECONDS = env_int("V2_TOKEN_TTL_SECONDS", 120)
if not 1 <= V2_TOKEN_TTL_SECONDS <= 300:
    raise ImproperlyConfigured("V2_TOKEN_TTL_SECONDS must be between 1 and 300")
MESSAGE_MAX_CHARS = env_int("MESSAGE_MAX_CHARS", 16000)
# A socket frame longer than this is refused unparsed: JSON writes a character in at
# most 6 (\u00XX), and 1 KiB is room for the rest of a message frame.
WS_FRAME_MAX_CHARS = 6 * MESSAGE_MAX_CHARS + 1024
# The v1 history endpoint answers with the conversation's last messages, at most this many;
# the v2 socket sends its backlog in pages of BACKLOG_PAGE_SIZE.
HISTORY_MAX_MESSAGES = env_int("HISTORY_MAX_MESSAGES", 500)
BACKLOG_PAGE_SIZE = 200
VISITOR_NAME_MAX_CHARS = 128

# --- input bounds (README "Limits on size and count") ------------------------------------
# The longest request body accepted (413 beyond it), also Django's own read limit.
REQUEST_BODY_MAX_BYTES = env_int("REQUEST_BODY_MAX_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES
# The ASGI server's cap on a WebSocket frame or message, passed to daphne by
# deploy/run-local.sh: a longer one closes the socket (1009) before Python sees it.
WS_SERVER_MAX_BYTES = env_int("WS_SERVER_MAX_BYTES", 1024 * 1024)
if WS_SERVER_MAX_BYTES < WS_FRAME_MAX_CHARS:
    raise ImproperlyConfigured(f"WS_SERVER_MAX_BYTES must be at least {WS_FRAME_MAX_CHARS} for MESSAGE_MAX_CHARS")

# --- database ----------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
# prod's database (checked in chatorical/prod_settings.py); a staging deployment names its own.
PROD_DATABASE_NAME = env_str("PROD_DATABASE_NAME", "support_chat_prod")
_default_db_name = PROD_DATABASE_NAME if IS_PROD else "support_chat_dev"
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url)}
    if not DATABASES["default"].get("NAME"):
        DATABASES["default"]["NAME"] = _default_db_name
    # Under ASGI every request, and every database call of a socket, may run on a thread
    # of its own, so per-thread persistent connections would pile up until PostgreSQL
    # refuses more: each process borrows from one bounded pool instead.
    DATABASES["default"]["OPTIONS"] = {
        "pool": {"min_size": 2, "max_size": env_int("DB_POOL_MAX_SIZE", 16), "timeout": 10}
    }
    # The pool checks each connection it hands out (one round trip): after a PostgreSQL
    # restart the pooled connections are dead, and each would otherwise fail a request.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
elif IS_PROD:
    DATABASES = {}
else:
    EMBEDDED_DEFAULTS.append("database: SQLite file var/embedded.sqlite3")
    (BASE_DIR / "var").mkdir(exist_ok=True)
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "var" / "embedded.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Behind PgBouncer in transaction mode a server connection serves another client after each
# transaction: a named (server-side) cursor would be gone by its next fetch. Django already
# prepares no statements on the server (prepare_threshold None). Migrations and backups
# take session-level locks and snapshots: run them against PostgreSQL itself.
DATABASE_POOLER = env_choice("DATABASE_POOLER", "none", ("none", "pgbouncer-transaction"))
if DATABASE_POOLER == "pgbouncer-transaction" and DATABASES:
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True

# --- redis: channel layer, cache, Celery broker --------------------------------------------
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "scv2")
REDIS_DB = 3


def _redis_url_on_db(url: str, db: int) -> str:
    """REDIS_URL names the server; the project always lives on one DB number."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


_redis_base_url = env_str("REDIS_URL")
# A DB number in REDIS_URL other than ours is ignored; `manage.py preflight` warns about it.
_redis_url_db = urlsplit(_redis_base_url).path.strip("/")
REDIS_URL_IGNORED_DB = int(_redis_url_db) if _redis_url_db.isdigit() and int(_redis_url_db) != REDIS_DB else None
# `sentinel://host1:26379,host2:26379/MASTER` reaches the master through Redis Sentinel
# (chatorical/redis_urls.py); every Redis client below follows it.
REDIS_SENTINEL = sentinel_target(_redis_base_url, db=REDIS_DB)
if REDIS_SENTINEL:
    REDIS_URL = _redis_base_url
else:
    REDIS_URL = _redis_url_on_db(_redis_base_url, REDIS_DB) if _redis_base_url else ""

CHANNEL_LAYER = env_choice("CHANNEL_LAYER", "redis" if REDIS_URL else "memory", ("redis", "memory"))
if CHANNEL_LAYER == "redis" and not REDIS_URL:
    raise ImproperlyConfigured("CHANNEL_LAYER=redis needs REDIS_URL")

if CHANNEL_LAYER == "redis":
    # The pub/sub layer has no per-process capacity that silently drops messages, and it
    # reads with short polls, so redis-py's socket timeout cannot race a blocking read.
    # The tests shorten the timeout to prove idle sockets outlive it without idling a minute.
    CHANNEL_LAYER_SOCKET_TIMEOUT = env_float("CHANNEL_LAYER_SOCKET_TIMEOUT", 60.0)
    _layer_connection = {
        "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        "health_check_interval": CHANNEL_LAYER_SOCKET_TIMEOUT / 2,
        "max_connections": 1000,
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chatorical.channel_layer.BatchedPublishChannelLayer",
            "CONFIG": {
                "hosts": [
                    channel_layer_host(REDIS_SENTINEL, **_layer_connection)
                    if REDIS_SENTINEL
                    else {"address": REDIS_URL, **_layer_connection}
                ],
                "prefix": REDIS_KEY_PREFIX,
            },
        }
    }
else:
    EMBEDDED_DEFAULTS.append("channel layer: in-process memory (one server instance only)")
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
                "CONNECTION_POOL_KWARGS": {"max_connections": 200},
                # A cache, not a store: while Redis is away reads miss and writes are
                # dropped (and logged) instead of failing the request or socket. Code that
                # must fail closed checks what it got back (conversations/tokens.py).
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
    if REDIS_SENTINEL:
        _sentinel_cache = cache_settings(REDIS_SENTINEL, **CACHES["default"]["OPTIONS"])
        CACHES["default"].update(LOCATION=_sentinel_cache["LOCATION"], OPTIONS=_sentinel_cache["OPTIONS"])
    else:
        # One redis client per process, not one per thread and per socket (chatorical/cache_clients.py).
        CACHES["default"]["OPTIONS"]["CONNECTION_FACTORY"] = "chatorical.cache_clients.SharedClientConnectionFactory"
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    EMBEDDED_DEFAULTS.append("cache: in-process memory")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- rate limits (chatorical/ratelimit/) -------------------------------------------------
# Multiplies every limit; load tests and benchmarks raise it instead of changing code.
RATE_LIMIT_SCALE = env_float("RATE_LIMIT_SCALE", 1.0)
if RATE_LIMIT_SCALE <= 0:
    raise ImproperlyConfigured("RATE_LIMIT_SCALE must be greater than 0")
# Whose X-Forwarded-For is believed (chatorical/client_ip.py).
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES", "127.0.0.1/32,::1/128")
# The limiter's own connection setting, so a test can point it at a dead Redis alone.
RATE_LIMIT_REDIS_URL = REDIS_URL
if not RATE_LIMIT_REDIS_URL:
    EMBEDDED_DEFAULTS.append("rate limits: off (they need Redis)")

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:",
    # Above the longest task, so an acknowledged-late task is not handed out twice.
    "visibility_timeout": 3600,
}
if REDIS_SENTINEL:
    CELERY_BROKER_URL, _sentinel_transport = celery_broker(REDIS_SENTINEL)
    CELERY_BROKER_TRANSPORT_OPTIONS.update(_sentinel_transport)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
if CELERY_TASK_ALWAYS_EAGER:
    EMBEDDED_DEFAULTS.append("tasks: run in-process (no Celery worker)")

# --- surviving a broker restart (README: "When Redis or PostgreSQL restarts") -------------
# Retry the broker for ever, backing off up to 2 s (chatorical/celery.py): the default gives
# up after 100 tries and the worker exits. Events wait in PostgreSQL meanwhile; queued tasks lost with Redis are
# redone by the outbox sweep.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CHANNEL_ERROR_RETRY = True
CELERY_BROKER_TRANSPORT_OPTIONS.update(
    socket_connect_timeout=5, socket_keepalive=True, health_check_interval=30, retry_on_timeout=True
)
# Worker-to-worker chatter (gossip, mingle, heartbeats) is off: see chatorical/celery.py.
CELERY_WORKER_CONSUMER = "chatorical.celery:QuietConsumer"
OUTBOX_SWEEP_SECONDS = env_float("OUTBOX_SWEEP_SECONDS", 5.0)
# How long a worker holds a conversation without recording an outcome (conversations/
# outbox.py): longer than one step's calls to Telegram take; a killed worker's conversations
# go to another worker after it.
OUTBOX_LEASE_SECONDS = env_float("OUTBOX_LEASE_SECONDS", 20.0)
# A sweep that waited in the queue past the next one's start is dropped: while the worker
# is busy, sweeps would pile up and then run back to back, holding up the updates behind them.
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {
        "task": "conversations.tasks.outbox_sweep",
        "schedule": OUTBOX_SWEEP_SECONDS,
        "options": {"expires": OUTBOX_SWEEP_SECONDS},
    },
    "telegram-updates-sweep": {
        "task": "telegram_bridge.tasks.telegram_updates_sweep",
        "schedule": OUTBOX_SWEEP_SECONDS,
        "options": {"expires": OUTBOX_SWEEP_SECONDS},
    },
}

# --- data lifecycle (lifecycle/retention.py) ---------------------------------------------
from celery.schedules import crontab  # noqa: E402

# The daily retention run starts at this hour (UTC). What it keeps: closed conversations
# per Tenant.retention_days, raw Telegram updates TELEGRAM_UPDATES_KEEP_DAYS, audit
# entries AUDIT_KEEP_DAYS (at least 400: the audit table's trigger refuses younger).
RETENTION_HOUR_UTC = env_int("RETENTION_HOUR_UTC", 3)
if not 0 <= RETENTION_HOUR_UTC <= 23:
    raise ImproperlyConfigured("RETENTION_HOUR_UTC must be an hour from 0 to 23")
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 500)
TELEGRAM_UPDATES_KEEP_DAYS = env_int("TELEGRAM_UPDATES_KEEP_DAYS", 7)
if RETENTION_BATCH_SIZE < 1 or TELEGRAM_UPDATES_KEEP_DAYS < 1:
    raise ImproperlyConfigured("RETENTION_BATCH_SIZE and TELEGRAM_UPDATES_KEEP_DAYS must be at least 1")
AUDIT_KEEP_DAYS = env_int("AUDIT_KEEP_DAYS", 400)
if AUDIT_KEEP_DAYS < 400:
    raise ImproperlyConfigured("AUDIT_KEEP_DAYS must be at least 400 (the audit table refuses younger deletes)")
CELERY_BEAT_SCHEDULE["retention-run"] = {
    "task": "lifecycle.tasks.retention_run_daily",
    "schedule": crontab(hour=RETENTION_HOUR_UTC, minute=0),
    # Held up past this, today's run is dropped rather than run late beside tomorrow's.
    "options": {"expires": 12 * 3600},
}

# --- billing (billing/) ------------------------------------------------------------------
# Stripe's webhook signing secret (whsec_...); without it the Stripe webhook answers 503.
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
# How old a signed Stripe webhook may be (Stripe's own default tolerance).
STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
# Stripe price id -> plan code, e.g. "price_123=pro,price_456=enterprise" (or Plan.stripe_price_id).
STRIPE_PRICE_PLANS = {}
for _pair in env_list("STRIPE_PRICE_PLANS"):
    _price, _, _plan = _pair.partition("=")
    if not (_price.strip() and _plan.strip()):
        raise ImproperlyConfigured(f"STRIPE_PRICE_PLANS must list price=plan pairs, got {_pair!r}")
    STRIPE_PRICE_PLANS[_price.strip()] = _plan.strip()
# How long a past_due subscription keeps its plan before it moves to free.
STRIPE_GRACE_DAYS = env_int("STRIPE_GRACE_DAYS", 7)
# How long a process trusts its last reading of a tenant's usage before the socket's
# per-message check reads it again (starts and API calls always read it).
BILLING_USAGE_CACHE_SECONDS = env_float("BILLING_USAGE_CACHE_SECONDS", 10.0)
CELERY_BEAT_SCHEDULE["billing-usage-compact"] = {
    "task": "billing.tasks.usage_counters_compact",
    "schedule": 3600,
    "options": {"expires": 3600},
}
CELERY_BEAT_SCHEDULE["billing-downgrades"] = {
    "task": "billing.tasks.subscription_downgrades_apply",
    "schedule": 600,
    "options": {"expires": 600},
}

# --- Django ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "django_prometheus",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "audit",
    "tenants",
    "conversations",
    "telegram_bridge",
    "templates_i18n",
    "billing",
    "widget_static",
    "lifecycle",
    "deploy",
    "devtools",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "chatorical.middleware.RequestIdMiddleware",
    "chatorical.middleware.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "chatorical.middleware.TenantMiddleware",
    "tenants.middleware.AdminTenantMiddleware",
    "chatorical.actors.AuditRequestMiddleware",
    "billing.middleware.PlanWarningBannerMiddleware",
    "chatorical.security.AdminContentSecurityPolicyMiddleware",
    "chatorical.middleware.JsonErrorMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "chatorical.urls"
ASGI_APPLICATION = "chatorical.asgi.application"
WSGI_APPLICATION = "chatorical.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# Where collectstatic writes; nginx serves it (deploy/nginx/chatorical.conf).
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")

# --- static files: WhiteNoise wherever the app runs without nginx ----------------------------
# `make run` and the release collect them compressed under hashed names (cached for a year);
# until collectstatic has run (a test run) the apps' files are served under their own names.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "chatorical.staticfiles.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = not IS_PROD
if not (STATIC_ROOT / "staticfiles.json").exists():
    # WhiteNoise warns that STATIC_ROOT is missing: expected until collectstatic runs.
    warnings.filterwarnings("ignore", message="No directory at: ")

# The v1 widget calls the API from the customer's pages with a bearer token, never cookies.
# Which origins may is per tenant: tenants/cors.py answers django-cors-headers' signal
# from the tenant's allowlist (the default tenant's is WIDGET_ALLOWED_ORIGINS).
CORS_URLS_REGEX = r"^/(v1|v2)/.*$"
CORS_ALLOW_ALL_ORIGINS = False
CORS_ALLOWED_ORIGINS: list[str] = []
CORS_ALLOW_CREDENTIALS = False
CORS_EXPOSE_HEADERS = ["Retry-After", "X-Request-Id"]

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# A refused CSRF check answers JSON to JSON requests (chatorical/views.py).
CSRF_FAILURE_VIEW = "chatorical.views.csrf_failure"
if IS_PROD:
    SECURE_HSTS_SECONDS = 31536000
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# The /api/v2 integration API: API keys with scopes, JSON only, one error shape.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.api_auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.api_auth.HasScopes"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "chatorical.drf.exception_handler",
    # API-key requests have no Django user; DRF must not touch django.contrib.auth for them.
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Chatorical API",
    "DESCRIPTION": "The integration API. Authenticate with `Authorization: Api-Key <key>`.",
    "VERSION": "2",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema is public: no key is needed, and a bad one does not hide it.
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": "/api/v2",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc from drf-spectacular-sidecar's copies, served as our static files.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- backups (deploy/backups.py, `manage.py backup`) ---------------------------------------
BACKUP_DIR = env_str("BACKUP_DIR") or str(BASE_DIR / "var" / "backups")
BACKUP_KEEP_DAYS = env_int("BACKUP_KEEP_DAYS", 14)

# --- observability (chatorical/metrics.py, chatorical/tracing.py) ---------------------------
# The `tenant` label of metrics: the tenant's slug, one value "all", or none (very large
# deployments). Tracing is configured by the standard OTEL_* variables, see README.
METRICS_TENANT_LABEL = env_choice("METRICS_TENANT_LABEL", "slug", ("slug", "all", "none"))
# The worker logs through LOGGING below (JSON in prod, with request and trace ids), not
# through a root logger of Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- logging -----------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "chatorical.logs.ContextFilter"},
        "redact": {"()": "chatorical.logs.RedactSecretsFilter"},
    },
    "formatters": {
        "pretty": {"()": "chatorical.logs.PrettyFormatter"},
        "json": {"()": "chatorical.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context", "redact"],
            "formatter": "json" if IS_PROD else "pretty",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "daphne": {"level": "WARNING"},
        # httpx logs every request URL at INFO, and a Bot API URL holds the bot token.
        "httpx": {"level": "WARNING"},
    },
}

# --- prod: every requirement at once ---------------------------------------------------------
if IS_PROD:
    from chatorical.prod_settings import prod_settings_check

    prod_settings_check(globals())
