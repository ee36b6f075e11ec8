import httpx
import pytest
import redis
from django.conf import settings


def test_health_answers_without_backends(client):
    assert client.get("/health").json() == {"status": "ok"}


METRICS_TOKEN = "metrics-token-for-tests-0123456789abcdef"


@pytest.fixture
def operator(settings):
    settings.METRICS_TOKEN = METRICS_TOKEN
    return {"HTTP_AUTHORIZATION": f"Bearer {METRICS_TOKEN}"}


@pytest.mark.django_db
def test_ready_checks_database_redis_and_channel_layer(client, operator):
    response = client.get("/ready", **operator)
    body = response.json()
    assert response.status_code == 200, body
    assert body["failing"] == []
    assert {"database", "redis", "channel_layer"} <= set(body["checks"])
    assert body["telegram"] == {}


@pytest.mark.django_db
def test_plain_ready_tells_load_balancers_its_status_and_nothing_more(client, operator):
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}):
        response = client.get("/ready", **headers)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_names_redis_when_it_is_down(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/3",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    assert client.get("/ready").json() == {"status": "fail"}
    response = client.get("/ready", HTTP_AUTHORIZATION=f"Bearer {settings.SERVICE_TOKEN}")
    assert response.status_code == 503
    assert "redis" in response.json()["failing"]
    assert "database" not in response.json()["failing"]


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["metrics", "service"])
def test_metrics_are_exposed_for_prometheus_with_a_bearer(client, operator, settings, token):
    client.get("/health")
    bearer = METRICS_TOKEN if token == "metrics" else settings.SERVICE_TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {bearer}")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_view_transport_method_total" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers", [{}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": f"Basic {METRICS_TOKEN}"}]
)
def test_metrics_are_closed_to_anyone_else(client, operator, headers):
    response = client.get("/metrics", **headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_metrics_token"
    assert b"chatorical_" not in response.content


@pytest.mark.django_db
def test_an_unset_metrics_token_opens_nothing(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer  ").status_code == 401


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_ready_checks_of_a_server_share_one_probe_channel(start_server, default_tenant):
    """Each check subscribing a channel of its own would leave it subscribed for the life of
    the process, and every Redis restart would subscribe them all again."""
    server = start_server()
    for _ in range(3):
        assert httpx.get(f"{server.url}/ready", timeout=10).status_code == 200
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        assert len(client.pubsub_channels(f"{settings.REDIS_KEY_PREFIX}specific.*")) == 1
    finally:
        client.close()
