from django.apps import AppConfig


class TelegramBridgeConfig(AppConfig):
    name = "telegram_bridge"

    def ready(self):
        # Registers the outbox handlers of the Telegram side and its metrics read at scrape time.
        from chatorical.metrics import scrape_collector
        from telegram_bridge import handlers  # noqa: F401
        from telegram_bridge.metrics import collect_bot_problems

        scrape_collector(collect_bot_problems)
