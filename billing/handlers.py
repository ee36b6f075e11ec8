"""The outbox handler of a plan usage warning: a post in the tenant's support group."""

from billing.services import PLAN_USAGE_WARNING
from conversations.models import OutboxEvent
from conversations.outbox import outbox_handler
from telegram_bridge.bridge import Bridge
from telegram_bridge.models import TelegramDelivery
from templates_i18n.selectors import template_text


@outbox_handler(PLAN_USAGE_WARNING)
def on_plan_usage_warning(event: OutboxEvent) -> None:
    bridge = Bridge.for_tenant(event.tenant)
    if bridge is None or TelegramDelivery.objects.filter(event=event).exists():
        return  # no bot to tell, or an earlier try posted it
    payload = event.payload
    text = template_text(
        tenant_id=event.tenant_id,
        key="plan_usage_warning",
        locale=event.tenant.default_locale,
        variables={
            "used": payload["used"],
            "limit": payload["limit_value"],
            "limit_name": payload["limit"].replace("_", " "),
            "percent": payload["percent"],
        },
    )
    # Into the group's General topic: the warning concerns no one conversation.
    message_id = bridge.post(chat_id=bridge.support_chat_id, thread_id=None, text=text)
    TelegramDelivery.objects.create(tenant_id=event.tenant_id, event=event, part=0, telegram_message_id=message_id)
