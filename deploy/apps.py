from django.apps import AppConfig


class DeployConfig(AppConfig):
    """Operations: backups and their verified restore (the rest of deploy/ is not Python)."""

    name = "deploy"
    default_auto_field = "django.db.models.BigAutoField"
