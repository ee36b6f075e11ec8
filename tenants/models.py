from django.db import models


class Tenant(models.Model):
    """A customer of Chatorical. Not tenant-owned itself: it is what scopes everything else."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    allowed_origins = models.JSONField(default=list, blank=True)
    default_locale = models.CharField(max_length=35, default="en")
    plan = models.CharField(max_length=32, default="free")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.slug

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE
