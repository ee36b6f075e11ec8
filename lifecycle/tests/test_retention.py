"""The retention job: `retention_run`, `manage.py retention run` and the beat task."""

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from prometheus_client import REGISTRY

from audit.models import AuditEntry
from chatorical import tenancy
from conversations import services
from conversations.models import Conversation, Message, OutboxEvent
from conversations.tests.factories import conversation_for, message_for
from lifecycle.retention import retention_run
from lifecycle.tasks import retention_run_daily
from telegram_bridge.models import TelegramDelivery, TelegramTopic, TelegramUpdate


def closed_days_ago(tenant, days: int, *, messages: int = 2, thread_id: int | None = None) -> Conversation:
    conversation = conversation_for(tenant)
    for i in range(messages):
        message_for(conversation, text=f"message {i}")
    with tenancy.tenant_context(tenant):
        services.conversation_close(conversation=conversation)
        Conversation.objects.filter(pk=conversation.pk).update(closed_at=timezone.now() - timedelta(days=days))
        if thread_id:
            TelegramTopic.objects.create(conversation=conversation, chat_id=-100777, thread_id=thread_id)
    return conversation


def exists(tenant, conversation) -> bool:
    with tenancy.tenant_context(tenant):
        return Conversation.objects.filter(pk=conversation.pk).exists()


def sample(name: str, tenant=None) -> float:
    return REGISTRY.get_sample_value(name, {"tenant": tenant.slug} if tenant else {}) or 0.0


def test_purges_closed_conversations_past_the_tenants_retention(default_tenant, other_tenant):
    other_tenant.retention_days = 30
    other_tenant.save()
    expired = closed_days_ago(default_tenant, 91, messages=3, thread_id=55)
    recent = closed_days_ago(default_tenant, 89)
    still_open = conversation_for(default_tenant)
    with tenancy.tenant_context(default_tenant):
        Conversation.objects.filter(pk=still_open.pk).update(created_at=timezone.now() - timedelta(days=400))
        event = OutboxEvent.objects.filter(conversation=expired).first()
        TelegramDelivery.objects.create(event=event, part=0, telegram_message_id=9)
    other_expired, other_recent = closed_days_ago(other_tenant, 31), closed_days_ago(other_tenant, 29)
    purged_before = sample("chatorical_retention_purged_messages_total", default_tenant)

    results = {result.tenant: result for result in retention_run()}

    assert (results["default"].conversations, results["default"].messages) == (1, 3)
    assert (results["acme"].conversations, results["acme"].messages) == (1, 2)
    assert not exists(default_tenant, expired) and not exists(other_tenant, other_expired)
    assert exists(default_tenant, recent) and exists(default_tenant, still_open) and exists(other_tenant, other_recent)
    with tenancy.tenant_context(default_tenant):
        assert not Message.objects.filter(conversation_id=expired.pk).exists()
        assert not OutboxEvent.objects.filter(conversation_id=expired.pk).exists()
        assert not TelegramDelivery.objects.filter(event_id=event.pk).exists()
        removal = OutboxEvent.objects.get(kind=OutboxEvent.Kind.TOPIC_DELETE)
        summary = AuditEntry.objects.get(action="retention.run")
    assert removal.payload["thread_id"] == 55
    assert summary.detail["conversations"] == 1 and summary.detail["messages"] == 3
    assert summary.detail["retention_days"] == 90
    assert sample("chatorical_retention_purged_messages_total", default_tenant) == purged_before + 3


def test_zero_days_keeps_closed_conversations_for_good(default_tenant):
    default_tenant.retention_days = 0
    default_tenant.save()
    ancient = closed_days_ago(default_tenant, 3000)
    assert retention_run()[0].conversations == 0
    assert exists(default_tenant, ancient)


def test_purges_in_bounded_batches(default_tenant, settings):
    settings.RETENTION_BATCH_SIZE = 2
    doomed = [closed_days_ago(default_tenant, 100, messages=1) for _ in range(5)]
    assert retention_run()[0].conversations == 5
    assert not any(exists(default_tenant, conversation) for conversation in doomed)


def test_dry_run_counts_and_deletes_nothing(default_tenant):
    kept = closed_days_ago(default_tenant, 100, messages=4)
    result = retention_run(dry_run=True)[0]
    assert (result.conversations, result.messages) == (1, 4)
    assert exists(default_tenant, kept)
    with tenancy.tenant_context(default_tenant):
        assert not AuditEntry.objects.filter(action="retention.run").exists()


def test_raw_telegram_updates_are_kept_seven_days(default_tenant):
    with tenancy.tenant_context(default_tenant):
        old = TelegramUpdate.objects.create(update_id=1, payload={"message": {"text": "personal"}})
        new = TelegramUpdate.objects.create(update_id=2, payload={})
        TelegramUpdate.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=8))
    assert retention_run()[0].telegram_updates == 1
    with tenancy.tenant_context(default_tenant):
        assert list(TelegramUpdate.objects.values_list("pk", flat=True)) == [new.pk]


def test_the_command_runs_one_tenant_or_a_dry_run(default_tenant, other_tenant, capsys):
    mine, theirs = closed_days_ago(default_tenant, 100), closed_days_ago(other_tenant, 100)
    call_command("retention", "run", "--tenant", "acme", "--dry-run")
    assert capsys.readouterr().out.strip() == (
        "acme: would purge 1 conversations, 2 messages, 0 Telegram updates, 0 audit entries"
    )
    assert exists(other_tenant, theirs)
    call_command("retention", "run", "--tenant", "acme")
    assert "acme: purged 1 conversations, 2 messages" in capsys.readouterr().out
    assert not exists(other_tenant, theirs) and exists(default_tenant, mine)
    with tenancy.tenant_context(other_tenant):
        summary = AuditEntry.objects.get(action="retention.run")
    assert (summary.actor_type, summary.actor_id) == ("cli", "retention run")


def test_the_command_refuses_an_unknown_tenant(default_tenant):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No tenant `nope`"):
        call_command("retention", "run", "--tenant", "nope")


def test_the_daily_task_is_scheduled_and_records_its_success(default_tenant, settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["retention-run"]
    assert schedule["task"] == retention_run_daily.name
    assert schedule["schedule"].hour == {settings.RETENTION_HOUR_UTC}
    closed_days_ago(default_tenant, 100)
    before = timezone.now().timestamp()
    assert retention_run_daily() == 1
    assert sample("chatorical_retention_last_success_timestamp_seconds") >= int(before)
    assert sample("chatorical_retention_run_duration_seconds") > 0
    with tenancy.tenant_context(default_tenant):
        summary = AuditEntry.objects.get(action="retention.run")
    assert (summary.actor_type, summary.actor_id) == ("system", "retention")


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_delete_and_count_each_conversation_once(default_tenant, settings):
    settings.RETENTION_BATCH_SIZE = 3
    doomed = [closed_days_ago(default_tenant, 100, messages=2) for _ in range(24)]
    start = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            start.wait()
            results.extend(retention_run())
        except Exception as exc:  # collected: the assertion below names it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(result.conversations for result in results) == len(doomed)
    assert sum(result.messages for result in results) == 2 * len(doomed)
    assert not any(exists(default_tenant, conversation) for conversation in doomed)
    with tenancy.tenant_context(default_tenant):
        assert OutboxEvent.objects.filter(conversation__isnull=False).count() == 0
