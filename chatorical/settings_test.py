"""Settings for the test suite: real PostgreSQL and Redis, never the embedded stand-ins."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/support_chat_test")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379")
os.environ.setdefault("REDIS_KEY_PREFIX", "scv2test")
os.environ.setdefault("CONVERSATION_JWT_SECRET", "test-conversation-jwt-secret-0123456789abcdef")
os.environ.setdefault("SERVICE_TOKEN", "test-service-token-0123456789abcdef0123")
# Under pytest-xdist each worker has a test database of its own (pytest-django adds the
# worker's id to its name) and a Redis key prefix of its own: channel layer, cache, Celery
# broker and rate limits, and what the servers and workers a test starts use.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["REDIS_KEY_PREFIX"] += f"-{os.environ['PYTEST_XDIST_WORKER']}"

from chatorical.settings import *  # noqa: E402,F403

# Tasks are executed by real workers in the tests that need them; others call them directly.
CELERY_TASK_ALWAYS_EAGER = False

# In this process, connections opened in Channels' database threads are closed after each
# call, so the test database can be dropped at the end of the run; the server and worker
# processes that tests start use the pool of the real settings.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
DATABASES["default"]["OPTIONS"].pop("pool")  # noqa: F405
