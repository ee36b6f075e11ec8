"""Bounded history: the v1 history endpoint answers the last messages only, the v2 socket
sends its backlog in pages, and the admin transcript shows its latest page."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chatorical.asgi import application
from conversations import admin as conversations_admin
from conversations import selectors
from conversations.tests.factories import conversation_for, message_for, token_for, v2_token_for
from tenants.models import Membership
from tenants.tests.factories import staff_of


def with_messages(tenant, count: int):
    conversation = conversation_for(tenant, visitor_name="Chatty")
    for n in range(1, count + 1):
        message_for(conversation, text=f"m{n}")
    return conversation


def test_the_default_history_bound_is_500(settings):
    assert settings.HISTORY_MAX_MESSAGES == 500


@pytest.mark.django_db
def test_v1_history_answers_the_last_messages_only_in_the_v1_shape(client, default_tenant, settings):
    settings.HISTORY_MAX_MESSAGES = 5
    conversation = with_messages(default_tenant, 8)
    response = client.get(
        f"/v1/conversations/{conversation.id}/messages", HTTP_AUTHORIZATION=f"Bearer {token_for(conversation)}"
    )
    assert response.status_code == 200
    assert response.json() == {"messages": [{"direction": "INBOUND", "text": f"m{n}"} for n in range(4, 9)]}


@pytest.mark.django_db(transaction=True)
async def test_the_v2_backlog_arrives_whole_and_in_order_in_pages(tenant_a, settings, monkeypatch):
    settings.BACKLOG_PAGE_SIZE = 3
    conversation = tenant_a.conversation  # two messages already
    for n in range(3, 11):
        await database_sync_to_async(message_for)(conversation, text=f"m{n}")
    pages = []
    real_message_list = selectors.message_list

    def recording_message_list(**kwargs):
        page = real_message_list(**kwargs)
        pages.append((kwargs.get("limit"), len(page)))
        return page

    monkeypatch.setattr(selectors, "message_list", recording_message_list)
    token = await database_sync_to_async(v2_token_for)(conversation)
    socket = WebsocketCommunicator(
        application, f"/v2/ws?token={token}&after_seq=1", headers=[(b"origin", b"https://tenant-a.example")]
    )
    assert (await socket.connect())[0]
    seqs = []
    while (frame := await socket.receive_json_from(timeout=5)).get("key") != "welcome":
        seqs.append(frame["seq"])
    assert seqs == list(range(2, 11))
    assert pages == [(3, 3), (3, 3), (3, 3), (3, 0)]
    await socket.disconnect()


@pytest.mark.django_db
def test_the_admin_transcript_shows_the_latest_page_and_links_to_the_rest(
    client, django_user_model, tenant_a, tenant_b, monkeypatch
):
    monkeypatch.setattr(conversations_admin, "TRANSCRIPT_PAGE_SIZE", 3)
    conversation = with_messages(tenant_a.tenant, 5)
    client.force_login(staff_of(django_user_model, tenant_a.tenant, Membership.Role.VIEWER))
    page = client.get(f"/admin/conversations/conversation/{conversation.pk}/change/").content.decode()
    assert all(f": m{n}" in page for n in (3, 4, 5)) and ": m2" not in page
    link = f"/admin/conversations/message/?conversation__id__exact={conversation.pk}"
    assert link in page
    listed = client.get(link)
    assert listed.status_code == 200
    assert "5 messages" in listed.content.decode()
    # Cross-tenant: another tenant's conversation lists nothing of it.
    other = client.get(f"/admin/conversations/message/?conversation__id__exact={tenant_b.conversation.pk}")
    assert "hello from tenant-b" not in other.content.decode()
