from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """What `make run` shows a developer: the front page, the demo customer pages and the
    Bot API sandbox's support group. Routed only outside prod (chatorical/urls.py)."""

    name = "devtools"
