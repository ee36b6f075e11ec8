import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatorical.settings")

app = Celery("chatorical")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _tracing_configure(**kwargs):
    # Before the pool forks: the SDK's span processors restart their threads in each child.
    from chatorical import tracing

    tracing.configure()
