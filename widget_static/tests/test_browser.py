"""Both widgets in a real browser, against the real processes.

Debian's Chromium, driven by Playwright, opens a customer's page on another origin
(127.0.0.2) that embeds the widget from a real daphne; a real Celery worker carries the
outbox to the fake Telegram Bot API, and the agent's side arrives as Telegram would send
it: webhook updates, here to a second daphne instance. The network is cut by stopping
the widget's server and starting it again on the same port.

Screenshots go to test-artifacts/. Without Chromium these tests fail, saying so.
"""

import functools
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from chatorical.testing import WorkerProcess, screenshot
from telegram_bridge.testing.fixtures import DEFAULT_BOT_TOKEN, DEFAULT_CHAT_ID, fake_bot_api  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes, pytest.mark.browser]

HOST_PAGES = Path(__file__).resolve().parent.parent / "testing"
HEADER_SECRET = "browser-test-header-secret"
AGENT = {"id": 4242, "is_bot": False, "first_name": "Grace", "username": "grace"}
JWT_RE = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
# Playwright's CSS selectors pierce open shadow roots.
W = "chatorical-widget"
WAIT_MS = 30_000


# --- fixtures ------------------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def _serve_host_pages(address: str):
    handler = functools.partial(_QuietHandler, directory=str(HOST_PAGES))
    server = ThreadingHTTPServer((address, 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://{address}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def host_site():
    """The customer's site: the host pages, from another origin than the chat server."""
    yield from _serve_host_pages("127.0.0.2")


@pytest.fixture
def foreign_site():
    """The same pages on an origin the tenant has not allowed."""
    yield from _serve_host_pages("127.0.0.3")


class Deployment:
    """The widget's server, a second instance for Telegram's webhooks, and a worker."""

    def __init__(self, *, fake, start_server, tmp_path, site):
        fake.set_limits(group_per_minute=None, bot_per_second=None)
        env = {
            "TELEGRAM_API_BASE": fake.base_url,
            "BOT_TOKEN": DEFAULT_BOT_TOKEN,
            "SUPPORT_GROUP_ID": DEFAULT_CHAT_ID,
            "TELEGRAM_HEADER_SECRET": HEADER_SECRET,
            "TELEGRAM_GROUP_POSTS_PER_MINUTE": 10_000,
            "TELEGRAM_BOT_POSTS_PER_SECOND": 10_000,
            "OUTBOX_SWEEP_SECONDS": 1,
            "WIDGET_ALLOWED_ORIGINS": site,
        }
        self.fake = fake
        self.server = start_server(**env)
        self.webhooks = start_server(**env)
        self.worker = WorkerProcess(tmp_path, **env)

    def stop(self):
        self.worker.stop()

    def send_update(self, update: dict):
        response = httpx.post(
            f"{self.webhooks.url}/v1/telegram/webhook",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": HEADER_SECRET},
            timeout=10,
        )
        assert response.json() == {"ok": True}

    def topic_texts(self) -> list[str]:
        return [m.get("text", "") for m in self.fake.messages(DEFAULT_CHAT_ID)]

    def wait_in_topic(self, text: str):
        self.fake.wait_for(lambda fake: any(text in posted for posted in self.topic_texts()), timeout=30)

    def header(self) -> dict:
        """The conversation's pinned header post, with its Claim button, once the worker made it."""
        return self.fake.wait_for(lambda fake: fake.pinned(DEFAULT_CHAT_ID), timeout=30)

    def agent_claims(self):
        self.send_update(self.fake.press_button(DEFAULT_CHAT_ID, self.header()["message_id"], user=AGENT))

    def agent_says(self, text: str):
        thread_id = self.header()["message_thread_id"]
        self.send_update(self.fake.add_user_message(DEFAULT_CHAT_ID, text, thread_id=thread_id, user=AGENT))

    def cut_network(self):
        self.server.stop()

    def restore_network(self):
        self.server.start()


@pytest.fixture
def deployment(default_tenant, fake_bot_api, start_server, tmp_path, host_site):  # noqa: F811
    deployment = Deployment(fake=fake_bot_api, start_server=start_server, tmp_path=tmp_path, site=host_site)
    yield deployment
    deployment.stop()


# --- helpers -------------------------------------------------------------------------------


def log_texts(page, item: str) -> list[str]:
    """Texts of the confirmed messages in the widget's log, top to bottom."""
    return page.locator(f"{W} .log {item}").evaluate_all("nodes => nodes.map(n => n.lastChild.textContent)")


def wait_for_log(page, item: str, expected: list[str]):
    page.wait_for_function(
        """([selector, expected]) => {
            const root = document.querySelector('chatorical-widget').shadowRoot;
            const texts = Array.from(root.querySelectorAll(selector)).map(n => n.lastChild.textContent);
            return JSON.stringify(texts) === JSON.stringify(expected);
        }""",
        arg=[f".log {item}", expected],
        timeout=WAIT_MS,
    )
    assert log_texts(page, item) == expected


def send(page, text: str):
    page.locator(f"{W} .composer textarea").fill(text)
    page.locator(f"{W} .composer textarea").press("Enter")


MESSAGE = ".msg:not(.pending)"  # INBOUND and OUTBOUND, as stored
MINE = ".msg.mine:not(.pending)"


# --- v2 ------------------------------------------------------------------------------------


def test_widget_v2_in_a_real_browser(deployment, chromium, host_site):
    context = chromium.new_context()
    page = context.new_page()
    tokens_on_the_wire = []
    page.on("websocket", lambda socket: tokens_on_the_wire.extend(parse_qs(urlsplit(socket.url).query)["token"]))
    page.on("console", lambda message: print("browser console:", message.text))

    page.goto(f"{host_site}/v2-host.html?server={deployment.server.url}&hostile=1")
    launcher = page.locator(f"{W} .launcher")
    launcher.click()
    panel = page.locator(f"{W} .panel")
    assert panel.get_attribute("role") == "dialog" and launcher.get_attribute("aria-expanded") == "true"
    page.locator(f"{W} #cw-name").fill("Ada")
    page.locator(f"{W} .start button").click()

    # The visitor writes; the agents see it in the conversation's topic.
    send(page, "Hello, I need help")
    wait_for_log(page, MESSAGE, ["Hello, I need help"])
    deployment.wait_in_topic("Hello, I need help")
    log = page.locator(f"{W} .log")
    assert (log.get_attribute("role"), log.get_attribute("aria-live")) == ("log", "polite")

    # An agent claims the conversation and answers.
    deployment.agent_claims()
    page.locator(f"{W} .note", has_text="grace joined").wait_for(timeout=WAIT_MS)
    deployment.agent_says("Hi Ada, how can I help?")
    wait_for_log(page, MESSAGE, ["Hello, I need help", "Hi Ada, how can I help?"])

    # The network goes; the agent answers meanwhile and the visitor writes.
    deployment.cut_network()
    page.locator(f"{W} .status", has_text="Reconnecting").wait_for(timeout=WAIT_MS)
    deployment.agent_says("Are you still there?")
    deployment.agent_says("We can also call you.")
    send(page, "Sorry, my train went into a tunnel")
    deployment.restore_network()
    expected = [
        "Hello, I need help",
        "Hi Ada, how can I help?",
        "Are you still there?",
        "We can also call you.",
        "Sorry, my train went into a tunnel",
    ]
    wait_for_log(page, MESSAGE, expected)
    deployment.wait_in_topic("Sorry, my train went into a tunnel")
    assert page.locator(f"{W} .msg.pending").count() == 0
    screenshot(page, "widget-v2-after-reconnect.png")

    # Markup from a visitor is text, nothing else.
    xss = '<img src=x onerror="window.__xss = 1">'
    send(page, xss)
    wait_for_log(page, MINE, [expected[0], expected[4], xss])
    assert page.locator(f"{W} .log img").count() == 0
    assert page.evaluate("() => window.__xss") is None

    # After a reload the history comes back from the server, by seq, once.
    page.reload()
    page.locator(f"{W} .launcher").click()
    wait_for_log(page, MESSAGE, expected + [xss])
    assert page.locator(f"{W} .note", has_text="grace joined").count() == 1

    # Escape closes the panel and gives focus back to the launcher.
    page.locator(f"{W} .composer textarea").press("Escape")
    assert page.locator(f"{W} .panel").is_hidden()
    focused = page.evaluate("() => document.querySelector('chatorical-widget').shadowRoot.activeElement.className")
    assert focused == "launcher"

    # No token is kept anywhere: only the conversation id, under the tenant's key.
    assert len(set(tokens_on_the_wire)) >= 3, "a fresh token on every connect"
    stored = page.evaluate("() => Object.entries(localStorage)")
    assert [key for key, _ in stored] == ["chatorical:v2:default"]
    assert re.fullmatch(r"[0-9a-f-]{36}", stored[0][1])
    session = page.evaluate("() => Object.entries(sessionStorage)")
    cookies = [(cookie["name"], cookie["value"]) for cookie in context.cookies()]
    for _, value in stored + session + cookies:
        assert not JWT_RE.search(value)
        assert not any(token in value for token in tokens_on_the_wire)

    # The agent closes the conversation; the visitor may start a new one.
    page.locator(f"{W} .launcher").click()
    deployment.agent_says("/close")
    new_conversation = page.locator(f"{W} .closedbar button")
    new_conversation.wait_for(timeout=WAIT_MS)
    assert page.locator(f"{W} .composer textarea").is_disabled()
    screenshot(page, "widget-v2-closed.png")
    new_conversation.click()
    assert page.locator(f"{W} .start").is_visible()
    assert page.evaluate("() => Object.entries(localStorage)") == []
    context.close()


def test_widget_v2_stays_off_on_a_site_the_tenant_does_not_allow(deployment, chromium, foreign_site):
    context = chromium.new_context()
    page = context.new_page()
    # The server answers 403 without CORS headers, so the browser keeps the answer from the page.
    with page.expect_event(
        "requestfailed", predicate=lambda request: "/v2/tenants/default/bootstrap" in request.url, timeout=WAIT_MS
    ):
        page.goto(f"{foreign_site}/v2-host.html?server={deployment.server.url}")
    assert page.evaluate("() => window.ChatoricalWidgetV2.version") == "2.0.0"
    assert page.locator(W).count() == 0
    context.close()


# --- v1 ------------------------------------------------------------------------------------


def test_widget_v1_in_a_real_browser(deployment, chromium, host_site):
    context = chromium.new_context()
    page = context.new_page()
    page.on("console", lambda message: print("browser console:", message.text))
    page.goto(f"{host_site}/v1-host.html?server={deployment.server.url}")
    page.locator(f"{W} .launcher").click()
    page.locator(f"{W} #cw-name").fill("Ada")
    page.locator(f"{W} .start button[type=submit]").click()

    send(page, "Hello from v1")
    wait_for_log(page, MESSAGE, ["Hello from v1"])
    deployment.wait_in_topic("Hello from v1")
    deployment.agent_claims()
    page.locator(f"{W} .note", has_text="grace joined").wait_for(timeout=WAIT_MS)
    deployment.agent_says("Hi, v1 visitor")
    wait_for_log(page, MESSAGE, ["Hello from v1", "Hi, v1 visitor"])

    deployment.cut_network()
    page.locator(f"{W} .status", has_text="Reconnecting").wait_for(timeout=WAIT_MS)
    deployment.agent_says("Missed this one?")
    send(page, "Back online")
    deployment.restore_network()
    expected = ["Hello from v1", "Hi, v1 visitor", "Missed this one?", "Back online"]
    wait_for_log(page, MESSAGE, expected)
    deployment.wait_in_topic("Back online")
    screenshot(page, "widget-v1-after-reconnect.png")

    page.reload()
    page.locator(f"{W} .launcher").click()
    wait_for_log(page, MESSAGE, expected)
    context.close()
