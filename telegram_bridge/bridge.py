"""A tenant's bot, as the workers use it: calls with migration handling, problem reports
and the send budget. One Bridge per tenant and call site; nothing here is cached across
tenants, so one tenant's failing bot cannot slow another's."""

import logging
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import transaction

from chatorical import tracing
from conversations import outbox
from conversations.outbox import Park, RetryLater
from telegram_bridge import client as tg
from telegram_bridge import send_budgets
from telegram_bridge.metrics import call_measured
from telegram_bridge.models import ChatMigration, TelegramTopic
from tenants.models import TelegramConfig, Tenant
from tenants.selectors import TelegramSettings, telegram_settings_for

logger = logging.getLogger(__name__)

# How long to wait before trying again after a refusal that a human must fix.
MISSING_RIGHTS_RETRY_SECONDS = 120
BOT_REMOVED_RETRY_SECONDS = 600


def _problem_key(tenant_id: int) -> str:
    return f"tg:problem:{tenant_id}"


def bot_problem(tenant_id: int) -> str | None:
    """The last unresolved problem of the tenant's bot (for /ready and the admin), if any."""
    return cache.get(_problem_key(tenant_id))


def bot_offline(*, tenant: Tenant) -> bool:
    """Whether a visitor's messages may reach no agent for now: the tenant has no bot, or
    its bot has a problem that a human must fix. The widget then says so (the `offline` note)."""
    return bot_problem(tenant.id) is not None or telegram_settings_for(tenant) is None


def bot_problems(tenant_ids: list[int]) -> dict[int, str]:
    """bot_problem for many tenants in one round trip."""
    found = cache.get_many([_problem_key(tenant_id) for tenant_id in tenant_ids])
    return {tenant_id: found[_problem_key(tenant_id)] for tenant_id in tenant_ids if _problem_key(tenant_id) in found}


@dataclass
class Bridge:
    tenant: Tenant
    settings: TelegramSettings
    client: tg.BotClient
    # support_chat_id, read once per Bridge (a webhook request, a drain): every update
    # and post asks for it, and a migration this Bridge records resets it.
    _support_chat_id: int | None = field(default=None, init=False, repr=False)

    @classmethod
    def for_tenant(cls, tenant: Tenant) -> "Bridge | None":
        telegram = telegram_settings_for(tenant)
        if telegram is None:
            return None
        return cls(tenant=tenant, settings=telegram, client=tg.BotClient(telegram.bot_token))

    @property
    def support_chat_id(self) -> int:
        """The configured group, followed through any supergroup upgrades."""
        if self._support_chat_id is None:
            chat_id = self.settings.support_group_id
            routes = dict(ChatMigration.objects.values_list("from_chat_id", "to_chat_id"))
            while chat_id in routes:
                chat_id = routes.pop(chat_id)
            self._support_chat_id = chat_id
        return self._support_chat_id

    def is_support_chat(self, chat_id) -> bool:
        """Whether `chat_id` is the support group, read afresh before saying no: another
        process may have recorded the group's upgrade since this Bridge read it."""
        if chat_id == self.support_chat_id:
            return True
        self._support_chat_id = None
        return chat_id == self.support_chat_id

    def call(self, method: str, **params):
        """Calls Telegram; follows a chat migration once and turns refusals into retries."""
        try:
            try:
                result = self._call_measured(method, params)
            except tg.ChatMigrated as migrated:
                self._record_migration(params["chat_id"], migrated.new_chat_id)
                result = self._call_measured(method, {**params, "chat_id": migrated.new_chat_id})
        except tg.RetryAfter as exc:
            if "chat_id" in params:
                send_budgets.pause_chat(bot_id=self.client.bot_id, chat_id=params["chat_id"], seconds=exc.seconds)
            raise Park(exc.seconds, f"telegram asked to wait {exc.seconds}s") from None
        except tg.MissingRights as exc:
            self._report("missing_rights", f"{method}: {exc.description}")
            raise RetryLater(MISSING_RIGHTS_RETRY_SECONDS, exc.description, counts=False) from None
        except tg.BotRemoved as exc:
            self._report("bot_removed", f"{method}: {exc.description}")
            raise RetryLater(BOT_REMOVED_RETRY_SECONDS, exc.description) from None
        self._clear_problem()
        return result

    def _call_measured(self, method: str, params: dict):
        outbox.lease_keep()
        with tracing.span(f"telegram {method}"), call_measured(tenant_slug=self.tenant.slug, method=method):
            return self.client.call(method, **params)

    def post(self, *, chat_id: int, thread_id: int, text: str, **extra) -> int:
        """Posts into a topic within the send budget; returns the new message id."""
        wait = send_budgets.reserve_post(bot_id=self.client.bot_id, chat_id=chat_id)
        if wait:
            wait = send_budgets.queue_wait(bot_id=self.client.bot_id, chat_id=chat_id, wait=wait)
            raise Park(wait, "send budget of the support group is used up")
        message = self.call(
            "sendMessage",
            chat_id=chat_id,
            message_thread_id=thread_id,
            text=text,
            disable_notification=True,
            **extra,
        )
        return message["message_id"]

    def _record_migration(self, old_chat_id: int, new_chat_id: int) -> None:
        logger.warning("support group %s was upgraded to supergroup %s", old_chat_id, new_chat_id)
        self._support_chat_id = None
        with transaction.atomic():
            ChatMigration.objects.get_or_create(
                tenant=self.tenant, from_chat_id=old_chat_id, defaults={"to_chat_id": new_chat_id}
            )
            TelegramConfig.objects.filter(tenant=self.tenant, support_group_id=old_chat_id).update(
                support_group_id=new_chat_id
            )
            TelegramTopic.objects.filter(chat_id=old_chat_id).update(chat_id=new_chat_id)

    def _report(self, kind: str, detail: str) -> None:
        logger.error("telegram bot of tenant %s: %s (%s)", self.tenant.slug, kind, detail)
        cache.set(_problem_key(self.tenant.id), f"{kind}: {detail}", timeout=24 * 3600)

    def _clear_problem(self) -> None:
        if cache.get(_problem_key(self.tenant.id)):
            cache.delete(_problem_key(self.tenant.id))
