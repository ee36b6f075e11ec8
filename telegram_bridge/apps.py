from django.apps import AppConfig


class TelegramBridgeConfig(AppConfig):
    name = "telegram_bridge"

    def ready(self):
        # Registers the outbox handlers of the Telegram side, what conversations asks of
        # its agents' channel, and the metrics read at scrape time.
        from chatorical.metrics import scrape_collector
        from conversations.agent_channel import AgentChannel, agent_channel_register
        from telegram_bridge import handlers
        from telegram_bridge.bridge import bot_offline, bot_problem
        from telegram_bridge.metrics import collect_bot_problems

        agent_channel_register(
            AgentChannel(offline=bot_offline, problem=bot_problem, conversations_removed=handlers.conversations_removed)
        )
        scrape_collector(collect_bot_problems)
