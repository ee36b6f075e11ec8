import os

from celery import Celery
from celery.signals import before_task_publish, task_prerun, worker_init

from chatorical.logs import request_id_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatorical.settings")

app = Celery("chatorical")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _tracing_configure(**kwargs):
    # Before the pool forks: the SDK's span processors restart their threads in each child.
    from chatorical import tracing

    tracing.configure()


@before_task_publish.connect
def _request_id_sent(headers=None, **kwargs):
    """A task queued while handling a request carries its id, for the worker's log lines."""
    request_id = request_id_var.get()
    if headers is not None and request_id != "-":
        headers["request_id"] = request_id


@task_prerun.connect
def _request_id_received(task=None, **kwargs):
    request_id_var.set(getattr(task.request, "request_id", None) or "-")
