"""The v2 widget API and /v2/ws through their public surface, on real PostgreSQL and Redis."""

import asyncio
import functools
import threading
import time

import jwt
import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection

from chatorical import tenancy
from chatorical.testing import load_settings
from conversations import selectors, services
from conversations.models import Conversation, Message
from conversations.tests.factories import conversation_for, message_for, v2_token_for
from conversations.tests.sockets import (
    A_SITE,
    connect,
    receive_event,
    receive_until_welcome,
    token_over_http,
    token_path,
)
from conversations.tokens import AUDIENCE_V2, token_decode
from templates_i18n.catalog import UI_STRINGS
from templates_i18n.services import text_set
from tenants.models import Tenant

B_SITE = "https://tenant-b.example"
EVIL_SITE = "https://evil.example"
XSS = '<img src=x onerror="alert(1)"></div><script>alert(2)</script>&amp;'


def bootstrap_path(slug="tenant-a"):
    return f"/v2/tenants/{slug}/bootstrap"


def conversations_path(slug="tenant-a"):
    return f"/v2/tenants/{slug}/conversations"


def error_code(response):
    return response.json()["error"]["code"]


def suspend(tenant):
    Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.SUSPENDED)


def close(conversation):
    with tenancy.tenant_context(conversation.tenant):
        services.conversation_close(conversation=conversation)


# --- bootstrap -----------------------------------------------------------------------------


def test_bootstrap_gives_the_widget_its_configuration(client, tenant_a):
    response = client.get(bootstrap_path(), HTTP_ORIGIN=A_SITE)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"tenant", "locale", "strings", "theme", "features", "ws_url", "api"}
    assert body["tenant"] == {"slug": "tenant-a", "name": "Tenant tenant-a"}
    assert body["locale"] == "en"
    assert set(body["strings"]) == set(UI_STRINGS)
    assert body["strings"]["title"] == "Chat with us"
    # The agent's name is only known in the widget: its placeholder is kept for it.
    assert body["strings"]["agent_joined"] == "{agent} joined"
    assert body["theme"] == {"accent_color": "#2563eb", "position": "right"}
    assert body["features"] == {"ask_name": True}
    assert body["ws_url"] == "ws://testserver/v2/ws"
    assert body["api"] == {
        "conversations": "/v2/tenants/tenant-a/conversations",
        "token": "/v2/tenants/tenant-a/conversations/{conversation_id}/token",
    }


def test_bootstrap_is_cacheable_per_origin_and_language_with_cors_for_the_tenants_site(client, tenant_a):
    response = client.get(bootstrap_path(), HTTP_ORIGIN=A_SITE)
    assert response["Cache-Control"] == "public, max-age=60"
    vary = {part.strip().lower() for part in response["Vary"].split(",")}
    assert {"origin", "accept-language"} <= vary
    assert response["Access-Control-Allow-Origin"] == A_SITE
    assert "Access-Control-Allow-Credentials" not in response


def test_bootstrap_ws_url_is_wss_behind_https(client, tenant_a):
    response = client.get(bootstrap_path(), HTTP_ORIGIN=A_SITE, secure=True)
    assert response.json()["ws_url"] == "wss://testserver/v2/ws"


@pytest.fixture
def german_title(tenant_a):
    with tenancy.tenant_context(tenant_a.tenant):
        text_set(tenant=tenant_a.tenant, kind="ui", key="title", locale="de", text="Schreiben Sie {tenant}")
        text_set(tenant=tenant_a.tenant, kind="ui", key="agent_joined", locale="de", text="{agent} ist da")


@pytest.mark.parametrize(
    "query, accept_language, locale, title",
    [
        ("?locale=de-AT", "", "de-AT", "Schreiben Sie Tenant tenant-a"),
        ("", "fr-CH;q=0.5, de-DE, en;q=0.8", "de-DE", "Schreiben Sie Tenant tenant-a"),
        ("?locale=fr", "de", "fr", "Chat with us"),
        ("", "", "en", "Chat with us"),
        ("", "*", "en", "Chat with us"),
    ],
)
def test_bootstrap_strings_are_resolved_for_the_visitors_locale(
    client, tenant_a, german_title, query, accept_language, locale, title
):
    body = client.get(bootstrap_path() + query, HTTP_ACCEPT_LANGUAGE=accept_language).json()
    assert body["locale"] == locale
    assert body["strings"]["title"] == title
    assert body["strings"]["agent_joined"] == ("{agent} ist da" if locale.startswith("de") else "{agent} joined")


def test_bootstrap_refuses_a_foreign_origin_and_serves_a_missing_one(client, tenant_a, tenant_b):
    refused = client.get(bootstrap_path(), HTTP_ORIGIN=B_SITE)
    assert refused.status_code == 403 and error_code(refused) == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in refused
    assert "public" not in refused.get("Cache-Control", "")
    assert client.get(bootstrap_path()).status_code == 200


def test_bootstrap_of_an_unknown_or_suspended_tenant_is_404(client, tenant_a):
    assert error_code(client.get(bootstrap_path("nobody"))) == "tenant_not_found"
    suspend(tenant_a.tenant)
    response = client.get(bootstrap_path(), HTTP_ORIGIN=A_SITE)
    assert response.status_code == 404 and error_code(response) == "tenant_not_found"


def test_bootstrap_bad_input_is_a_clear_4xx(client, tenant_a):
    bad_locale = client.get(bootstrap_path() + "?locale=<script>")
    assert bad_locale.status_code == 400 and error_code(bad_locale) == "invalid_locale"
    post = client.post(bootstrap_path())
    assert post.status_code == 405 and error_code(post) == "method_not_allowed"


def test_the_default_tenant_answers_on_v2(client, default_tenant):
    body = client.get(bootstrap_path("default"), HTTP_ORIGIN="https://any.example").json()
    assert body["tenant"]["slug"] == "default"


# --- conversation start --------------------------------------------------------------------


def test_conversation_create_returns_the_id_only(client, tenant_a):
    response = client.post(
        conversations_path(),
        {"name": "  Ada   Lovelace ", "locale": "de-AT", "page_url": "https://tenant-a.example/pricing"},
        content_type="application/json",
        HTTP_ORIGIN=A_SITE,
    )
    assert response.status_code == 201
    assert set(response.json()) == {"conversation_id"}
    assert response["Access-Control-Allow-Origin"] == A_SITE
    with tenancy.tenant_context(tenant_a.tenant):
        conversation = Conversation.objects.get(pk=response.json()["conversation_id"])
    assert (conversation.visitor_name, conversation.locale, conversation.page_url) == (
        "Ada Lovelace",
        "de-AT",
        "https://tenant-a.example/pricing",
    )


def test_conversation_create_with_an_empty_body(client, tenant_a):
    response = client.post(conversations_path(), "", content_type="application/json", HTTP_ORIGIN=A_SITE)
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body, code",
    [
        ("not json", "invalid_json"),
        ("[1]", "invalid_json"),
        ('{"name": 5}', "invalid_name"),
        ('{"locale": "no such locale!"}', "invalid_locale"),
        ('{"page_url": "javascript:alert(1)"}', "invalid_page_url"),
    ],
)
def test_conversation_create_bad_input_is_a_clear_400(client, tenant_a, body, code):
    response = client.post(conversations_path(), body, content_type="application/json", HTTP_ORIGIN=A_SITE)
    assert response.status_code == 400 and error_code(response) == code


def test_conversation_create_refuses_a_foreign_origin(client, tenant_a, tenant_b):
    response = client.post(conversations_path(), {}, content_type="application/json", HTTP_ORIGIN=B_SITE)
    assert response.status_code == 403 and error_code(response) == "origin_not_allowed"
    with tenancy.tenant_context(tenant_a.tenant):
        assert Conversation.objects.count() == 1  # the fixture's own


def test_conversation_create_of_a_suspended_tenant_is_404(client, tenant_a):
    suspend(tenant_a.tenant)
    assert client.post(conversations_path(), {}, content_type="application/json").status_code == 404


def test_conversation_create_is_limited_per_ip(client, tenant_a):
    for _ in range(10):
        assert client.post(conversations_path(), {}, content_type="application/json").status_code == 201
    limited = client.post(conversations_path(), {}, content_type="application/json")
    assert limited.status_code == 429 and error_code(limited) == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    # Another address is not affected.
    other_ip = client.post(conversations_path(), {}, content_type="application/json", REMOTE_ADDR="203.0.113.9")
    assert other_ip.status_code == 201


# --- tokens --------------------------------------------------------------------------------


def test_token_is_short_lived_and_for_this_conversation(client, tenant_a):
    response = client.post(token_path(tenant_a.conversation.id), HTTP_ORIGIN=A_SITE)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_in"}
    assert body["expires_in"] == 120 and body["expires_in"] <= 300
    claims = jwt.decode(body["token"], settings.CONVERSATION_JWT_SECRET, algorithms=["HS256"], audience="ws-v2")
    assert claims["tid"] == tenant_a.tenant.id and claims["cid"] == str(tenant_a.conversation.id)
    assert claims["exp"] - claims["iat"] == 120 and claims["jti"]
    assert response["Access-Control-Allow-Origin"] == A_SITE


def test_token_lifetime_follows_the_setting(client, tenant_a, settings):
    settings.V2_TOKEN_TTL_SECONDS = 30
    assert client.post(token_path(tenant_a.conversation.id)).json()["expires_in"] == 30


@pytest.mark.parametrize("ttl", ["0", "301"])
def test_a_token_lifetime_outside_five_minutes_is_refused_at_start(ttl):
    result = load_settings(V2_TOKEN_TTL_SECONDS=ttl)
    assert result.returncode != 0 and "V2_TOKEN_TTL_SECONDS must be between 1 and 300" in result.stderr


def test_every_token_is_a_new_one(client, tenant_a):
    first, second = (client.post(token_path(tenant_a.conversation.id)).json()["token"] for _ in range(2))
    assert token_decode(first, audience=AUDIENCE_V2).jti != token_decode(second, audience=AUDIENCE_V2).jti


def test_token_of_a_closed_conversation_is_409(client, tenant_a):
    close(tenant_a.conversation)
    response = client.post(token_path(tenant_a.conversation.id), HTTP_ORIGIN=A_SITE)
    assert response.status_code == 409 and error_code(response) == "conversation_closed"


@pytest.mark.parametrize("conversation_id", ["00000000-0000-4000-8000-000000000000", "not-a-uuid", "1"])
def test_token_of_an_unknown_conversation_is_404(client, tenant_a, conversation_id):
    response = client.post(token_path(conversation_id), HTTP_ORIGIN=A_SITE)
    assert response.status_code == 404 and error_code(response) == "conversation_not_found"


def test_cross_tenant_a_conversation_id_on_another_tenants_token_endpoint_is_404(client, tenant_a, tenant_b):
    response = client.post(token_path(tenant_a.conversation.id, slug="tenant-b"), HTTP_ORIGIN=B_SITE)
    assert response.status_code == 404 and error_code(response) == "conversation_not_found"
    # Nor does tenant B's site get tenant A's tokens from tenant A's endpoint.
    response = client.post(token_path(tenant_a.conversation.id), HTTP_ORIGIN=B_SITE)
    assert response.status_code == 403 and error_code(response) == "origin_not_allowed"


def test_token_of_a_suspended_tenant_is_404(client, tenant_a):
    suspend(tenant_a.tenant)
    assert client.post(token_path(tenant_a.conversation.id)).status_code == 404


def test_token_method_is_post(client, tenant_a):
    response = client.get(token_path(tenant_a.conversation.id))
    assert response.status_code == 405 and response["Allow"] == "POST"


def test_tokens_are_limited_per_conversation(client, tenant_a):
    for _ in range(20):
        assert client.post(token_path(tenant_a.conversation.id)).status_code == 200
    limited = client.post(token_path(tenant_a.conversation.id))
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    # Another conversation, from the same address, is not affected.
    other = conversation_for(tenant_a.tenant)
    assert client.post(token_path(other.id)).status_code == 200


def test_tokens_are_limited_per_ip_and_guessing_ids_counts(client, tenant_a):
    Tenant.objects.filter(pk=tenant_a.tenant.pk).update(rate_limits={"token": {"ip": {"limit": 3}}})
    assert client.post(token_path("00000000-0000-4000-8000-000000000000")).status_code == 404
    for _ in range(2):
        assert client.post(token_path(tenant_a.conversation.id)).status_code == 200
    limited = client.post(token_path(tenant_a.conversation.id))
    assert limited.status_code == 429 and error_code(limited) == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    assert client.post(token_path(tenant_a.conversation.id), REMOTE_ADDR="203.0.113.9").status_code == 200


# --- the script ----------------------------------------------------------------------------


def test_widget_v2_script_is_served_with_an_etag(client):
    response = client.get("/widget/v2.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=300"
    assert b"ChatoricalWidgetV2" in response.content
    revalidated = client.get("/widget/v2.js", HTTP_IF_NONE_MATCH=response["ETag"])
    assert revalidated.status_code == 304 and revalidated["Cache-Control"] == "public, max-age=300"


# --- /v2/ws --------------------------------------------------------------------------------

ws = pytest.mark.django_db(transaction=True)


def add(conversation, text, direction=Message.Direction.INBOUND, agent_name=""):
    return message_for(conversation, text=text, direction=direction, agent_name=agent_name)


@ws
async def test_a_fresh_token_opens_the_socket_once(async_client, tenant_a):
    token = await token_over_http(async_client, tenant_a.conversation)
    first, connected = await connect(token)
    assert connected
    await receive_until_welcome(first)
    replay, replayed = await connect(token)
    assert not replayed, "a token is spent by the first handshake"
    await first.disconnect()
    # A new token is what a reconnect uses.
    again, connected = await connect(await token_over_http(async_client, tenant_a.conversation))
    assert connected
    await again.disconnect()


@ws
async def test_two_handshakes_racing_with_one_token_open_one_socket(tenant_a):
    token = await database_sync_to_async(v2_token_for)(tenant_a.conversation)
    results = await asyncio.gather(*(connect(token) for _ in range(5)))
    assert sum(connected for _, connected in results) == 1
    for communicator, connected in results:
        if connected:
            await communicator.disconnect()


def signed(tenant, conversation, *, secret=None, **overrides):
    """A token signed by hand, with the claims token_issue() would put in, then `overrides`."""
    now = int(time.time())
    claims = {"tid": tenant.id, "cid": str(conversation.id), "aud": "ws-v2", "iat": now, "exp": now + 60, "jti": "j1"}
    claims = {key: value for key, value in {**claims, **overrides}.items() if value is not None}
    return jwt.encode(claims, secret or settings.CONVERSATION_JWT_SECRET, algorithm="HS256")


@ws
@pytest.mark.parametrize("case", ["forged", "expired", "wrong_audience", "no_jti", "missing", "garbage"])
async def test_bad_tokens_are_refused(tenant_a, case):
    now = int(time.time())
    sign = functools.partial(signed, tenant_a.tenant, tenant_a.conversation)
    tokens = {
        "forged": lambda: sign(secret="some-other-secret-of-sufficient-length!"),
        "expired": lambda: sign(iat=now - 200, exp=now - 100),
        "wrong_audience": lambda: sign(aud="api"),
        "no_jti": lambda: sign(jti=None),
        "missing": lambda: "",
        "garbage": lambda: "a.b.c",
    }
    _, connected = await connect(tokens[case]())
    assert not connected


@ws
async def test_cross_tenant_a_token_naming_another_tenants_conversation_is_refused(tenant_a, tenant_b):
    token = signed(tenant_a.tenant, tenant_b.conversation)
    for origin in (A_SITE, B_SITE):
        _, connected = await connect(token, origin=origin)
        assert not connected


@ws
async def test_cross_tenant_a_tenants_token_from_another_tenants_site_is_refused(tenant_a, tenant_b):
    token = await database_sync_to_async(v2_token_for)(tenant_a.conversation)
    _, connected = await connect(token, origin=B_SITE)
    assert not connected
    # Refused before it was spent: the widget on the right site still gets in with it.
    communicator, connected = await connect(token, origin=A_SITE)
    assert connected
    await communicator.disconnect()


@ws
@pytest.mark.parametrize("origin", [EVIL_SITE, "", "null", "http://tenant-a.example"])
async def test_foreign_or_missing_origin_is_refused(tenant_a, origin):
    token = await database_sync_to_async(v2_token_for)(tenant_a.conversation)
    _, connected = await connect(token, origin=origin)
    assert not connected


@ws
async def test_missing_origin_is_refused_even_where_any_origin_is_allowed(default_tenant, settings):
    settings.WIDGET_ALLOWED_ORIGINS = []
    conversation = await database_sync_to_async(conversation_for)(default_tenant)
    token = await database_sync_to_async(v2_token_for)(conversation)
    _, connected = await connect(token, origin="")
    assert not connected
    communicator, connected = await connect(token, origin="https://any.example")
    assert connected
    await communicator.disconnect()


@ws
async def test_closed_conversation_is_refused(tenant_a):
    token = await database_sync_to_async(v2_token_for)(tenant_a.conversation)
    await database_sync_to_async(close)(tenant_a.conversation)
    _, connected = await connect(token)
    assert not connected


@ws
async def test_suspended_tenant_is_refused(tenant_a):
    token = await database_sync_to_async(v2_token_for)(tenant_a.conversation)
    await database_sync_to_async(suspend)(tenant_a.tenant)
    _, connected = await connect(token)
    assert not connected


@ws
@pytest.mark.parametrize("after_seq", ["-1", "x", "1.5", "99999999999999999999"])
async def test_a_malformed_after_seq_is_refused(tenant_a, after_seq):
    token = await database_sync_to_async(v2_token_for)(tenant_a.conversation)
    _, connected = await connect(token, after_seq=after_seq)
    assert not connected


@ws
async def test_events_carry_v1_shapes_plus_id_ts_seq(tenant_a):
    conversation = await database_sync_to_async(conversation_for)(tenant_a.tenant, visitor_name="Ada")
    socket, connected = await connect(await database_sync_to_async(v2_token_for)(conversation))
    assert connected
    assert await receive_until_welcome(socket) == []

    await socket.send_json_to({"type": "message", "text": "Hello"})
    echo = await receive_event(socket)
    assert set(echo) == {"direction", "text", "id", "ts", "seq"}
    assert (echo["direction"], echo["text"], echo["seq"]) == ("INBOUND", "Hello", 1)

    def agent_side():
        with tenancy.tenant_context(conversation.tenant):
            services.conversation_claim(conversation=conversation, agent_id=5, agent_name="Bob")
            services.message_add(conversation=conversation, direction="OUTBOUND", text="Hi Ada", agent_name="Bob")
            services.conversation_close(conversation=conversation)

    await database_sync_to_async(agent_side)()
    assert await receive_event(socket) == {"type": "agent_joined", "agent": "Bob"}
    reply = await receive_event(socket)
    assert {k: reply[k] for k in ("direction", "text", "agent", "seq")} == {
        "direction": "OUTBOUND",
        "text": "Hi Ada",
        "agent": "Bob",
        "seq": 2,
    }
    assert isinstance(reply["id"], int) and reply["ts"].startswith("20")
    assert await receive_event(socket) == {"type": "conversation_closed"}
    assert (await socket.receive_output(timeout=5))["type"] == "websocket.close"


@ws
async def test_a_claimed_conversation_says_who_joined_on_every_connect(tenant_a):
    def claim():
        with tenancy.tenant_context(tenant_a.tenant):
            services.conversation_claim(conversation=tenant_a.conversation, agent_id=5, agent_name="Bob")

    await database_sync_to_async(claim)()
    for after_seq in (0, 2):
        token = await database_sync_to_async(v2_token_for)(tenant_a.conversation)
        socket, _ = await connect(token, after_seq=after_seq)
        opening = await receive_until_welcome(socket)
        assert opening[0] == {"type": "agent_joined", "agent": "Bob"}
        assert [frame["seq"] for frame in opening[1:]] == [1, 2][after_seq:]
        await socket.disconnect()


def seqs_and_texts(frames):
    return [(frame["seq"], frame["text"]) for frame in frames]


@ws
async def test_resume_sends_what_was_missed_once_in_order_then_live(tenant_a):
    conversation = tenant_a.conversation  # messages 1 and 2 exist
    socket, _ = await connect(await database_sync_to_async(v2_token_for)(conversation))
    backlog = await receive_until_welcome(socket)
    assert seqs_and_texts(backlog) == [(1, "hello from tenant-a"), (2, "answer of tenant-a")]
    await socket.disconnect()

    # While the visitor is away, an agent answers twice.
    for text in ("are you there?", "we are here"):
        await database_sync_to_async(add)(conversation, text, Message.Direction.OUTBOUND, "Agent")

    socket, _ = await connect(await database_sync_to_async(v2_token_for)(conversation), after_seq=2)
    backlog = await receive_until_welcome(socket)
    assert seqs_and_texts(backlog) == [(3, "are you there?"), (4, "we are here")]
    assert all(frame["agent"] == "Agent" and frame["direction"] == "OUTBOUND" for frame in backlog)

    await socket.send_json_to({"type": "message", "text": "yes!"})
    assert seqs_and_texts([await receive_event(socket)]) == [(5, "yes!")]
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


@ws
async def test_messages_arriving_while_the_backlog_is_read_are_neither_lost_nor_doubled(tenant_a, monkeypatch):
    conversation = tenant_a.conversation
    real_message_list = selectors.message_list

    def message_list_with_traffic(**kwargs):
        # Committed before the backlog is read: in the backlog, and broadcast live too.
        add(conversation, "just before the read")
        backlog = real_message_list(**kwargs)
        # Committed after it: only live.
        add(conversation, "just after the read")
        return backlog

    monkeypatch.setattr(selectors, "message_list", message_list_with_traffic)
    socket, _ = await connect(await database_sync_to_async(v2_token_for)(conversation), after_seq=1)
    backlog = await receive_until_welcome(socket)
    assert seqs_and_texts(backlog) == [(2, "answer of tenant-a"), (3, "just before the read")]
    assert seqs_and_texts([await receive_event(socket)]) == [(4, "just after the read")]
    assert await socket.receive_nothing(timeout=0.5), "the live copy of message 3 was dropped"
    await socket.disconnect()


@ws
async def test_a_burst_during_connect_arrives_complete_and_in_order(tenant_a):
    conversation = await database_sync_to_async(conversation_for)(tenant_a.tenant)
    for i in range(60):
        await database_sync_to_async(add)(conversation, f"old {i}")
    token = await database_sync_to_async(v2_token_for)(conversation)

    def writer():
        try:
            for i in range(40):
                add(conversation, f"new {i}")
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    socket, _ = await connect(token)
    received = []
    while len(received) < 100:
        frame = await socket.receive_json_from(timeout=10)
        if "seq" in frame:
            received.append(frame["seq"])
    thread.join()
    assert received == list(range(1, 101))
    while not await socket.receive_nothing(timeout=0.5):
        assert "seq" not in await socket.receive_json_from(), "a message arrived twice"
    await socket.disconnect()


@ws
async def test_markup_round_trips_as_text(tenant_a):
    socket, _ = await connect(await database_sync_to_async(v2_token_for)(tenant_a.conversation), after_seq=2)
    await receive_until_welcome(socket)
    await socket.send_json_to({"type": "message", "text": XSS})
    assert (await receive_event(socket))["text"] == XSS
    await socket.disconnect()
    socket, _ = await connect(await database_sync_to_async(v2_token_for)(tenant_a.conversation), after_seq=2)
    assert [frame["text"] for frame in await receive_until_welcome(socket)] == [XSS]
    await socket.disconnect()


@ws
async def test_live_events_that_cross_on_the_way_are_both_delivered(async_client, tenant_a):
    from channels.layers import get_channel_layer

    from conversations import realtime

    token = await token_over_http(async_client, tenant_a.conversation)
    socket, connected = await connect(token)
    assert connected
    await receive_until_welcome(socket)
    layer = get_channel_layer()
    group = realtime.conversation_group(tenant_a.conversation.id)
    # Two senders (a worker and a socket) whose broadcasts arrive in the other order.
    for seq in (8, 7):
        event = {"direction": "OUTBOUND", "text": f"seq {seq}", "id": seq, "ts": "", "seq": seq}
        await layer.group_send(group, realtime.group_message(event))
    assert [(await receive_event(socket))["seq"] for _ in range(2)] == [8, 7]
    await socket.disconnect()
