"""Settings, read from the environment. See README.md ("Configuration") for every variable."""

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from chatorical.env import env_bool, env_choice, env_float, env_int, env_list, env_networks, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DJANGO_ENV = env_choice("DJANGO_ENV", "dev", ("dev", "prod"))
IS_PROD = DJANGO_ENV == "prod"
DEBUG = env_bool("DEBUG", False)

# Which parts run on embedded stand-ins because their URL is missing; `make run` prints it.
EMBEDDED_DEFAULTS: list[str] = []

# --- secrets -----------------------------------------------------------------------------
DEV_PLACEHOLDER_SECRET = "dev-insecure-placeholder-never-use-in-prod"
SERVICE_TOKEN = env_str("SERVICE_TOKEN")
CONVERSATION_JWT_SECRET = env_str("CONVERSATION_JWT_SECRET")
SECRET_KEY = env_str("DJANGO_SECRET_KEY")

if IS_PROD:
    for _name, _value in (
        ("CONVERSATION_JWT_SECRET", CONVERSATION_JWT_SECRET),
        ("SERVICE_TOKEN", SERVICE_TOKEN),
        ("DJANGO_SECRET_KEY", SECRET_KEY),
    ):
        if not _value or _value == DEV_PLACEHOLDER_SECRET or len(_value) < 32:
            raise ImproperlyConfigured(f"{_name} must be set to a random value of at least 32 characters in prod")
    if CONVERSATION_JWT_SECRET == SERVICE_TOKEN:
        raise ImproperlyConfigured("CONVERSATION_JWT_SECRET must differ from SERVICE_TOKEN")
else:
    CONVERSATION_JWT_SECRET = CONVERSATION_JWT_SECRET or DEV_PLACEHOLDER_SECRET
    SECRET_KEY = SECRET_KEY or DEV_PLACEHOLDER_SECRET

# Fernet keys for tenant secrets at rest; the first encrypts, all decrypt (rotation).
CHANNEL_CONFIG_KEYS = env_list("CHANNEL_CONFIG_KEYS")
if IS_PROD and not CHANNEL_CONFIG_KEYS:
    raise ImproperlyConfigured("CHANNEL_CONFIG_KEYS is required in prod")
if not CHANNEL_CONFIG_KEYS:
    # A fixed dev key: dev data is not secret, and a restart must still read it.
    CHANNEL_CONFIG_KEYS = ["ZGV2LW9ubHkta2V5LW5vdC1mb3ItcHJvZHVjdGlvbiE="]

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
VISITOR_NAME_MAX_CHARS = 128

# --- database ----------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
_default_db_name = f"support_chat_{DJANGO_ENV}"
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url)}
    if not DATABASES["default"].get("NAME"):
        DATABASES["default"]["NAME"] = _default_db_name
    if IS_PROD and DATABASES["default"]["NAME"].endswith("_dev"):
        raise ImproperlyConfigured("prod must not use a dev database")
    # Under ASGI every request, and every database call of a socket, may run on a thread
    # of its own, so per-thread persistent connections would pile up until PostgreSQL
    # refuses more: each process borrows from one bounded pool instead.
    DATABASES["default"]["OPTIONS"] = {
        "pool": {"min_size": 2, "max_size": env_int("DB_POOL_MAX_SIZE", 16), "timeout": 10}
    }
elif IS_PROD:
    raise ImproperlyConfigured("DATABASE_URL is required in prod")
else:
    EMBEDDED_DEFAULTS.append("database: SQLite file var/embedded.sqlite3")
    (BASE_DIR / "var").mkdir(exist_ok=True)
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "var" / "embedded.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: channel layer, cache, Celery broker --------------------------------------------
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "scv2")
REDIS_DB = 3


def _redis_url_on_db(url: str, db: int) -> str:
    """REDIS_URL names the server; the project always lives on one DB number."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


_redis_base_url = env_str("REDIS_URL")
REDIS_URL = _redis_url_on_db(_redis_base_url, REDIS_DB) if _redis_base_url else ""
if not REDIS_URL and IS_PROD:
    raise ImproperlyConfigured("REDIS_URL is required in prod")

CHANNEL_LAYER = env_choice("CHANNEL_LAYER", "redis" if REDIS_URL else "memory", ("redis", "memory"))
if CHANNEL_LAYER == "redis" and not REDIS_URL:
    raise ImproperlyConfigured("CHANNEL_LAYER=redis needs REDIS_URL")

if CHANNEL_LAYER == "redis":
    # The pub/sub layer has no per-process capacity that silently drops messages, and it
    # reads with short polls, so redis-py's socket timeout cannot race a blocking read.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chatorical.channel_layer.BatchedPublishChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 60,
                        "socket_connect_timeout": 5,
                        "socket_keepalive": True,
                        "health_check_interval": 30,
                        "max_connections": 1000,
                    }
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
            },
        }
    }
else:
    EMBEDDED_DEFAULTS.append("cache: in-process memory")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- rate limits (chatorical/ratelimit.py) -------------------------------------------------
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
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
if CELERY_TASK_ALWAYS_EAGER:
    EMBEDDED_DEFAULTS.append("tasks: run in-process (no Celery worker)")
OUTBOX_SWEEP_SECONDS = env_float("OUTBOX_SWEEP_SECONDS", 5.0)
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
    "channels",
    "tenants",
    "conversations",
    "telegram_bridge",
    "templates_i18n",
    "billing",
    "widget_static",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "chatorical.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "chatorical.middleware.TenantMiddleware",
    "tenants.middleware.AdminTenantMiddleware",
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
STATIC_ROOT = BASE_DIR / "staticfiles"

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
}

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
