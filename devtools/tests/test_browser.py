"""What a newcomer sees after `make run`, in Debian's Chromium against real processes.

- The whole loop on the front page: a visitor starts a chat in the v2 widget, the new
  topic appears in the sandbox's support group beside it, the agent presses Claim and
  replies there, and the reply reaches the widget.
- The admin, styled: a tenant's staff member logs in and sees the conversation list and a
  transcript with the admin's stylesheet loaded (hashed and compressed by collectstatic).

Screenshots go to test-artifacts/.
"""

import subprocess
import sys

import pytest

from chatorical import tenancy
from chatorical.testing import ROOT, process_env, screenshot
from tenants.models import Membership

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes, pytest.mark.browser]

WAIT_MS = 30_000
W = "chatorical-widget"


def test_the_whole_loop_from_the_front_page(sandbox_deployment, chromium):
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    page.on("console", lambda message: print("browser console:", message.text))
    page.goto(f"{sandbox_deployment.server.url}/")

    customer = page.frame_locator("#customer-page")
    customer.locator(f"{W} .launcher").click()
    customer.locator(f"{W} #cw-name").fill("Ada")
    customer.locator(f"{W} .start button").click()
    customer.locator(f"{W} .composer textarea").fill("Hello, I need help")
    customer.locator(f"{W} .composer textarea").press("Enter")

    group = page.frame_locator("#support-group")
    group.locator("#topics .topic-link", has_text="Ada").wait_for(timeout=WAIT_MS)
    group.locator(".messages .msg", has_text="Hello, I need help").wait_for(timeout=WAIT_MS)
    group.locator(".pinned .inline-button", has_text="Claim").click()
    group.locator(".pinned", has_text="claimed by sam_agent").wait_for(timeout=WAIT_MS)
    customer.locator(f"{W} .note", has_text="sam_agent joined").wait_for(timeout=WAIT_MS)

    composer = group.locator(".composer input")
    composer.fill("Hi Ada, Sam here. How can I help?")
    composer.press("Enter")
    customer.locator(f"{W} .msg:not(.pending)", has_text="Hi Ada, Sam here. How can I help?").wait_for(timeout=WAIT_MS)
    group.locator(".messages .msg.agent", has_text="Hi Ada, Sam here").wait_for(timeout=WAIT_MS)
    screenshot(page, "front-page-whole-loop.png")
    page.close()


@pytest.fixture
def collected_static(tmp_path):
    """STATIC_ROOT filled by collectstatic, as `make run` and the release do."""
    root = tmp_path / "static"
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=process_env(STATIC_ROOT=root),
        check=True,
        timeout=300,
    )
    return root


@pytest.fixture
def agent_of_a(tenant_a, django_user_model):
    """A staff member of tenant A (written before Playwright's event loop starts)."""
    user = django_user_model.objects.create_user("agent-of-a", password="a-long-password-1", is_staff=True)
    with tenancy.tenant_context(tenant_a.tenant):
        Membership.objects.create(user=user, tenant=tenant_a.tenant, role=Membership.Role.AGENT)
    return user


def test_a_tenant_staff_member_sees_a_styled_admin(
    tenant_a, tenant_b, agent_of_a, start_server, collected_static, chromium
):
    server = start_server(STATIC_ROOT=collected_static)

    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    failed_assets = []
    page.on("response", lambda r: failed_assets.append(r.url) if "/static/" in r.url and r.status >= 400 else None)
    page.goto(f"{server.url}/admin/login/")
    page.fill("#id_username", "agent-of-a")
    page.fill("#id_password", "a-long-password-1")
    page.click("input[type=submit]")

    page.goto(f"{server.url}/admin/conversations/conversation/")
    assert_styled(page)
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "Visitor of tenant-a" in rows.first.inner_text()
    assert "Visitor of tenant-b" not in page.content()
    screenshot(page, "admin-conversation-list.png")

    page.goto(f"{server.url}/admin/conversations/conversation/{tenant_a.conversation.pk}/change/")
    assert_styled(page)
    transcript = page.locator(".field-transcript").inner_text()
    assert "hello from tenant-a" in transcript and "answer of tenant-a" in transcript
    screenshot(page, "admin-conversation.png", full_page=True)

    page.goto(f"{server.url}/admin/conversations/conversation/{tenant_b.conversation.pk}/change/")
    assert "hello from tenant-b" not in page.content()
    assert failed_assets == []
    page.close()


def assert_styled(page):
    """The admin's stylesheet, under its hashed name, loaded and applied."""
    sheets = page.evaluate("() => Array.from(document.styleSheets, s => s.href || '')")
    base = [href for href in sheets if "/static/admin/css/base." in href]
    assert base and base[0].split("/")[-1] != "base.css", sheets
    rules = page.evaluate(
        "(href) => Array.from(document.styleSheets).find(s => s.href === href).cssRules.length", base[0]
    )
    assert rules > 100
    header = page.evaluate("() => getComputedStyle(document.querySelector('#header')).backgroundColor")
    assert header not in ("rgba(0, 0, 0, 0)", "transparent"), "the admin's header is unstyled"
