import functools
import logging
import os

from celery import Celery, bootsteps
from celery.signals import before_task_publish, task_prerun, worker_init
from celery.worker.consumer import Consumer

from chatorical import resilience
from chatorical.logs import request_id_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatorical.settings")

logger = logging.getLogger(__name__)

app = Celery("chatorical")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Steps that only talk to other workers. We use none of them, and on a broker restart Gossip
# restarts on a closed connection and fails with AttributeError ("'NoneType' object has no
# attribute 'connection_errors'" or "... 'hostname'", kombu's Redis transport), which
# has ended the worker with "Unrecoverable error".
WORKER_CHATTER_STEPS = {
    "celery.worker.consumer.mingle:Mingle",
    "celery.worker.consumer.gossip:Gossip",
    "celery.worker.consumer.heart:Heart",
}


# Reconnect attempts back off from 0.5 s to at most 2 s. kombu's own backoff grows to 30 s,
# so after a long outage the worker could sit idle for half a minute with Redis back.
BROKER_RETRY_SECONDS = {"interval_start": 0.5, "interval_step": 0.5, "interval_max": 2.0}


class QuietConsumer(Consumer):
    class Blueprint(Consumer.Blueprint):
        default_steps = [step for step in Consumer.Blueprint.default_steps if step not in WORKER_CHATTER_STEPS]

    def ensure_connected(self, conn):
        conn.ensure_connection = functools.partial(conn.ensure_connection, **BROKER_RETRY_SECONDS)
        return super().ensure_connected(conn)

    def on_connection_error_after_connected(self, exc):
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError as error:
            if self.connection is not None:  # not the closing described below
                raise
            # When Redis goes away as a task is acknowledged, kombu's Redis channel, closing,
            # restores the unacknowledged message through a connection that collect() has
            # already emptied ("'NoneType' object has no attribute 'hostname'"), and that
            # ended the worker. The closed connection is dropped all the same; the message,
            # its task done, is lost with the Redis that held it.
            logger.warning("broker connection closed without restoring unacknowledged messages (%s)", error)


class BrokerConnectionWatch(bootsteps.StartStopStep):
    """Counts the broker connection's losses and returns: the consumer stops its steps
    when the connection fails and starts them again once it has a new one."""

    requires = ("celery.worker.consumer.connection:Connection",)

    def __init__(self, c, **kwargs):
        super().__init__(c, **kwargs)
        self.outage = resilience.Outage("celery_broker")

    def start(self, c):
        seconds = self.outage.ended()
        if seconds is not None:
            logger.warning("worker back on its broker after %.1f s", seconds)

    def stop(self, c):
        self.outage.lost()


app.steps["consumer"].add(BrokerConnectionWatch)


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
