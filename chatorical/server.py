"""daphne with a graceful stop, for releases that restart one instance at a time.

Plain daphne, on SIGTERM, cancels every application and exits: open sockets die without a
close frame (the widget sees 1006) and requests in flight are cut. This server first stops
accepting connections (nginx then sends new ones to another instance), closes every open
WebSocket with 1012 "service restart" (the widgets reconnect at once, through nginx, to an
instance that runs), and waits for those sockets and the requests in flight to finish, for
at most DAPHNE_DRAIN_SECONDS, before daphne's own shutdown.

    python -m chatorical.server -b 127.0.0.1 -p 8001 chatorical.asgi:application

It takes every option of the `daphne` command.
"""

import asyncio
import functools
import gc
import logging
import time

from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from django.core.cache import caches
from twisted.internet import defer, reactor, task

from chatorical.env import env_float
from chatorical.inbox import Inbox

logger = logging.getLogger(__name__)

SERVICE_RESTART_CLOSE_CODE = 1012
POLL_SECONDS = 0.05


class GracefulServer(Server):
    drain_seconds = env_float("DAPHNE_DRAIN_SECONDS", 10.0)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._ports = []

    def run(self):
        # Django keeps a cache object per asyncio context, and each socket's task is one:
        # made there (the welcome note's texts, the spent-token mark), it stayed for the
        # socket's life, 1.1 KB of RSS each. Made here, before any task, it is the one every
        # task and its threads inherit; its redis client is shared already (cache_clients.py).
        caches["default"]
        # Everything loaded so far (Django, the apps, the libraries: some 150,000 objects)
        # lives as long as the process. Frozen, it is left out of the collector's full
        # passes, which under load paused the event loop for 60-130 ms every 15-20 s.
        gc.freeze()
        super().run()

    def create_application(self, protocol, scope):
        """daphne's, with an Inbox as the application's input instead of an asyncio.Queue,
        which costs every idle socket 3 KB."""
        inbox = Inbox()
        scope.setdefault("asgi", {"version": "3.0"})
        instance = self.application(scope=scope, receive=inbox.get, send=functools.partial(self.handle_reply, protocol))
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            instance, loop=asyncio.get_event_loop()
        )
        return inbox

    def listen_success(self, port):
        # daphne keeps only the addresses; stopping to listen needs the ports themselves.
        self._ports.append(port)
        return super().listen_success(port)

    def kill_all_applications(self):
        drained = self._drain()
        drained.addCallback(lambda _: super(GracefulServer, self).kill_all_applications())
        return drained

    @defer.inlineCallbacks
    def _drain(self):
        yield defer.gatherResults([defer.maybeDeferred(port.stopListening) for port in self._ports])
        deadline = time.monotonic() + self.drain_seconds
        self._close_open_sockets()
        while self._busy() and time.monotonic() < deadline:
            yield task.deferLater(reactor, POLL_SECONDS, lambda: None)
            # A proxy may still hand over a handshake on a connection it had open.
            self._close_open_sockets()
        if self._busy():
            logger.warning("stopping: %d connections still busy after %.0f s", self._busy(), self.drain_seconds)

    def _close_open_sockets(self):
        sockets = [
            protocol
            for protocol in self.connections
            if isinstance(protocol, WebSocketProtocol) and protocol.state == WebSocketProtocol.STATE_OPEN
        ]
        for protocol in sockets:
            protocol.sendCloseFrame(code=SERVICE_RESTART_CLOSE_CODE, reasonUtf8=b"service restart")
        if sockets:
            logger.info("stopping: closed %d sockets with %d", len(sockets), SERVICE_RESTART_CLOSE_CODE)

    def _busy(self) -> int:
        """Connections whose application has not finished: open sockets, requests in flight."""
        return sum(
            1
            for details in self.connections.values()
            if details.get("application_instance") is not None and not details["application_instance"].done()
        )


class GracefulCommandLineInterface(CommandLineInterface):
    server_class = GracefulServer


if __name__ == "__main__":
    GracefulCommandLineInterface.entrypoint()
