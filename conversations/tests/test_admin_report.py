"""The admin's report page: a tenant's own numbers, for its staff only."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from chatorical import tenancy
from conversations import selectors, services
from conversations.models import Conversation, Message, OutboxEvent
from conversations.tests.factories import conversation_for, message_for
from telegram_bridge.bridge import _problem_key
from tenants.models import Membership
from tenants.tests.factories import staff_of

pytestmark = pytest.mark.django_db
REPORT = "/admin/conversations/conversation/report/"


def replied_after(tenant, *, wait_seconds, days_ago=0):
    """A conversation started `days_ago` whose first agent reply came `wait_seconds` later."""
    conversation = conversation_for(tenant)
    visitor = message_for(conversation, text="hi")
    agent = message_for(conversation, text="hello", direction=Message.Direction.OUTBOUND, agent_name="Grace")
    started = timezone.now() - timedelta(days=days_ago, hours=1)
    with tenancy.tenant_context(tenant):
        Conversation.objects.filter(pk=conversation.pk).update(created_at=started)
        Message.objects.filter(pk=visitor.pk).update(created_at=started)
        Message.objects.filter(pk=agent.pk).update(created_at=started + timedelta(seconds=wait_seconds))
    return conversation


@pytest.fixture
def numbers_of_a(tenant_a):
    """tenant_a: replies after 30 s, 90 s (3 days ago) and 300 s, one closed, one dead event."""
    tenant = tenant_a.tenant
    with tenancy.tenant_context(tenant):
        first, reply = tenant_a.conversation, tenant_a.messages[1]
        Message.objects.filter(pk=reply.pk).update(created_at=first.created_at + timedelta(seconds=30))
    replied_after(tenant, wait_seconds=90, days_ago=3)
    closed = replied_after(tenant, wait_seconds=300)
    conversation_for(tenant)  # no reply yet
    with tenancy.tenant_context(tenant):
        services.conversation_close(conversation=closed)
        OutboxEvent.objects.filter(pk=OutboxEvent.objects.filter(conversation=closed).first().pk).update(
            status=OutboxEvent.Status.DEAD
        )
    return tenant_a


def cell(content: str, name: str) -> str:
    return re.search(rf'<td class="{name}">(.*?)</td>', content, re.S).group(1).strip()


def test_the_report_counts_a_tenants_conversations(numbers_of_a, django_assert_num_queries):
    with tenancy.tenant_context(numbers_of_a.tenant), django_assert_num_queries(5):
        report = selectors.conversation_report()
    assert report.first_reply_p50 == timedelta(seconds=90)
    # percentile_cont interpolates: 90 + 0.8 * (300 - 90)
    assert report.first_reply_p90 == timedelta(seconds=258)
    assert (report.messages_in, report.messages_out) == (3, 3)
    assert report.by_status == {"open": 3, "claimed": 0, "closed": 1}
    assert report.outbox_dead == 1
    assert report.outbox_pending >= 1 and report.outbox_oldest_pending is not None
    days = dict(report.per_day)
    assert len(days) == selectors.REPORT_DAYS
    assert sum(days.values()) == 4
    assert days[(timezone.now() - timedelta(days=3, hours=1)).date()] == 1


def test_a_member_sees_their_tenants_numbers_only(client, django_user_model, numbers_of_a, tenant_b):
    client.force_login(staff_of(django_user_model, numbers_of_a.tenant, Membership.Role.VIEWER))
    cache.set(_problem_key(numbers_of_a.tenant.id), "missing_rights: createForumTopic: not enough rights")
    # Another tenant's page is not theirs to pick.
    response = client.get(REPORT, {"tenant": tenant_b.tenant.slug})
    assert response.status_code == 200
    content = response.content.decode()
    assert "Report of Tenant tenant-a" in content
    assert cell(content, "first-reply-p50") == "1 min 30 s"
    assert cell(content, "first-reply-p90") == "4 min 18 s"
    assert (cell(content, "messages-in"), cell(content, "messages-out")) == ("3", "3")
    assert (cell(content, "status-open"), cell(content, "status-closed")) == ("3", "1")
    assert cell(content, "outbox-dead") == "1"
    assert "missing_rights" in cell(content, "bot-problem")
    assert content.count("<rect ") == selectors.REPORT_DAYS
    assert "tenant-b" not in content
    assert "<script" not in content.split('id="content-main"')[1]


def test_a_superuser_picks_the_tenant(client, django_user_model, numbers_of_a, tenant_b):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    content = client.get(REPORT, {"tenant": tenant_b.tenant.slug}).content.decode()
    assert "Report of Tenant tenant-b" in content
    assert (cell(content, "messages-in"), cell(content, "messages-out")) == ("1", "1")
    assert cell(content, "bot-problem") == "no problem reported"
    assert client.get(REPORT, {"tenant": "nobody"}).status_code == 404


def test_the_conversation_list_links_to_the_report(client, django_user_model, numbers_of_a):
    client.force_login(staff_of(django_user_model, numbers_of_a.tenant, Membership.Role.AGENT))
    assert f'href="{REPORT}"' in client.get("/admin/conversations/conversation/").content.decode()


def test_staff_without_a_membership_and_anonymous_visitors_get_nothing(client, django_user_model, numbers_of_a):
    assert client.get(REPORT).status_code == 302  # to the login page
    client.force_login(django_user_model.objects.create_user("drifter", password="pw", is_staff=True))
    assert client.get(REPORT).status_code == 403
