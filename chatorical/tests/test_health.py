import httpx
import pytest
import redis
from django.conf import settings


def test_health_answers_without_backends(client):
    assert client.get("/health").json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_checks_database_redis_and_channel_layer(client):
    response = client.get("/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["failing"] == []
    assert {"database", "redis", "channel_layer"} <= set(body["checks"])


@pytest.mark.django_db
def test_ready_names_redis_when_it_is_down(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/3",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    response = client.get("/ready")
    assert response.status_code == 503
    assert "redis" in response.json()["failing"]
    assert "database" not in response.json()["failing"]


@pytest.mark.django_db
def test_metrics_are_exposed_for_prometheus(client):
    client.get("/health")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_view_transport_method_total" in response.content


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
