"""The development pages: the front page, the demo customer pages, the API docs with their
assets served by us, and the support group's page API when no sandbox runs."""

import re

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    return Client()


def test_the_front_page_shows_both_widgets_the_support_group_and_the_links(client, settings):
    settings.TELEGRAM_SANDBOX = True
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    for link in ('href="/admin/"', 'href="/api/v2/docs/"', 'href="/metrics"'):
        assert link in page
    assert 'data-src="/dev/demo/v2/"' in page and 'data-src="/dev/demo/v1/"' in page
    assert 'src="/dev/support-group/"' in page


def test_without_the_sandbox_the_front_page_says_agents_answer_in_telegram(client, settings):
    settings.TELEGRAM_SANDBOX = False
    page = client.get("/").content.decode()
    assert "/dev/support-group/" not in page and "real bot is configured" in page


@pytest.mark.parametrize(("version", "script"), [("v1", "/widget.js"), ("v2", "/widget/v2.js")])
def test_demo_pages_load_their_widget_from_this_server_inside_the_front_page(client, version, script):
    response = client.get(f"/dev/demo/{version}/")
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert script in response.content.decode()


def test_an_unknown_demo_page_is_a_json_404(client):
    response = client.get("/dev/demo/v9/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/api/v2/docs/", "/api/v2/redoc/"])
def test_the_api_docs_use_assets_we_serve_ourselves(client, path):
    response = client.get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert not re.search(r"""(src|href)=["']https?://""", page), "an asset from a CDN"
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", page)
    assert assets, page[:500]
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_the_api_docs_read_the_schema(client):
    page = client.get("/api/v2/docs/").content.decode()
    assert reverse("api-v2-schema") in page


def test_the_page_api_answers_404_when_no_sandbox_runs(client, settings):
    settings.TELEGRAM_SANDBOX = False
    response = client.get("/dev/support-group/api/state")
    assert response.status_code == 404 and response.json()["error"]["code"] == "sandbox_off"


def test_the_page_api_names_a_sandbox_that_does_not_answer(client, settings):
    from chatorical.testing import free_port

    settings.TELEGRAM_SANDBOX = True
    settings.TELEGRAM_API_BASE = f"http://127.0.0.1:{free_port()}"
    response = client.get("/dev/support-group/api/state")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "sandbox_unavailable"
    assert settings.TELEGRAM_API_BASE in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("method", "action", "status", "code"),
    [("get", "launch", 404, "not_found"), ("get", "message", 405, "method_not_allowed")],
)
def test_the_page_api_refuses_unknown_actions_and_wrong_methods(client, settings, method, action, status, code):
    settings.TELEGRAM_SANDBOX = True
    response = getattr(client, method)(f"/dev/support-group/api/{action}")
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_the_support_group_page_is_framed_only_by_our_own_pages(client, settings):
    settings.TELEGRAM_SANDBOX = True
    response = client.get("/dev/support-group/")
    assert response.status_code == 200 and response["X-Frame-Options"] == "SAMEORIGIN"
    assert "csrftoken" in response.cookies


def test_a_json_call_without_the_csrf_token_gets_a_json_error(settings):
    settings.TELEGRAM_SANDBOX = True
    client = Client(enforce_csrf_checks=True)
    response = client.post("/dev/support-group/api/message", {"thread_id": 2, "text": "x"}, "application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


def test_a_form_without_the_csrf_token_still_gets_djangos_page():
    response = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403 and response["Content-Type"].startswith("text/html")
