from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self):
        from chatorical.metrics import scrape_collector
        from conversations.metrics import collect_outbox

        scrape_collector(collect_outbox)
