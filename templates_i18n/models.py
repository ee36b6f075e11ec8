from django.db import models

from chatorical.tenant_models import TenantOwned


class TenantText(TenantOwned):
    key = models.CharField(max_length=64)
    locale = models.CharField(max_length=35)
    text = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.key} [{self.locale}]"


class MessageTemplate(TenantText):
    """A tenant's wording of a message (welcome, notes, Telegram posts) in one locale."""

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "locale", "key"], name="template_tenant_locale_key_unique")
        ]


class UiString(TenantText):
    """A tenant's wording of a widget label in one locale."""

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "locale", "key"], name="uistring_tenant_locale_key_unique")
        ]


class LegacyMessageTemplate(models.Model):
    """The v1 deployment's templates (one tenant, so no tenant column). Read only as the
    default tenant's fallback until it has v2 templates; copied into them by a migration."""

    key = models.CharField(max_length=64)
    locale = models.CharField(max_length=35)
    text = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["locale", "key"], name="legacy_template_locale_key_unique")]

    def __str__(self):
        return f"{self.key} [{self.locale}] (v1)"
