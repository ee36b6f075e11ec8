from django.apps import AppConfig


class TelegramBridgeConfig(AppConfig):
    name = "telegram_bridge"

    def ready(self):
        # Registers the outbox handlers of the Telegram side.
        from telegram_bridge import handlers  # noqa: F401
