"""`manage.py telegram_sandbox`: the Bot API sandbox as a dev server (telegram_bridge/sandbox.py).

Run by deploy/run-local.sh when no bot is configured; refused with DJANGO_ENV=prod.
"""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from telegram_bridge import client as tg
from telegram_bridge.sandbox import Sandbox
from telegram_bridge.webhook_setup import ALLOWED_UPDATES


class Command(BaseCommand):
    help = "Serves the Bot API sandbox (a local stand-in for Telegram) and points the default tenant's bot at the app."

    def add_arguments(self, parser):
        parser.add_argument(
            "--webhook-base",
            default="",
            help="where the app listens, for setWebhook (default http://127.0.0.1:$PORT)",
        )

    def handle(self, *args, webhook_base, **options):
        if settings.IS_PROD:
            raise CommandError("The Bot API sandbox stands in for Telegram in development; DJANGO_ENV=prod refuses it.")
        if not settings.TELEGRAM_SANDBOX:
            raise CommandError(
                "Set TELEGRAM_SANDBOX=1 and TELEGRAM_HEADER_SECRET for this command and the app "
                "(`make run` does it when BOT_TOKEN is not set)."
            )
        sandbox = Sandbox(bot_token=settings.TELEGRAM_SANDBOX_BOT_TOKEN, group_id=settings.TELEGRAM_SANDBOX_GROUP_ID)
        try:
            sandbox.start(port=settings.TELEGRAM_SANDBOX_PORT)
        except OSError as exc:
            raise CommandError(f"The sandbox cannot listen on port {settings.TELEGRAM_SANDBOX_PORT}: {exc}") from None
        base = (webhook_base or f"http://127.0.0.1:{settings.PORT}").rstrip("/")
        # The app's own client sets the webhook, header secret included, as against Telegram.
        tg.BotClient(settings.BOT_TOKEN).call(
            "setWebhook",
            url=base + reverse("v1-telegram-webhook"),
            secret_token=settings.TELEGRAM_HEADER_SECRET,
            allowed_updates=ALLOWED_UPDATES,
        )
        self.stdout.write(
            f"Bot API sandbox on {sandbox.base_url}: support group at {base}/dev/support-group/", ending="\n"
        )
        self.stdout.flush()
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        stopping.wait()
        sandbox.stop()
