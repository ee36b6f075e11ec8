from django.apps import AppConfig


class TelegramBridgeConfig(AppConfig):
    name = "telegram_bridge"

    def ready(self):
        # Registers the outbox handlers of the Telegram side; what conversations asks of
        # its agents' channel; the bots that need a human with /ready's detail and the
        # metrics read at scrape time; and `manage.py tenant telegram --set-webhook`.
        from chatorical.health import ready_detail_register
        from chatorical.metrics import scrape_collector
        from conversations.agent_channel import AgentChannel, agent_channel_register
        from telegram_bridge import bot_health, handlers
        from telegram_bridge.bridge import bot_offline, bot_problem
        from telegram_bridge.webhook_setup import set_webhook
        from tenants.cli import webhook_setter_register

        agent_channel_register(
            AgentChannel(offline=bot_offline, problem=bot_problem, conversations_removed=handlers.conversations_removed)
        )
        ready_detail_register("telegram", bot_health.ready_detail)
        scrape_collector(bot_health.collect_bot_problems)
        webhook_setter_register(set_webhook)
