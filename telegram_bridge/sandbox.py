"""The Bot API sandbox: the strict fake Bot API (telegram_bridge/testing/fake_bot_api.py)
served as a local development server, with one bot and one forum supergroup.

`make run` starts it when no bot is configured (`manage.py telegram_sandbox`) and points
the default tenant at it, so topics, header posts, pins and Telegram's rate limits behave
as against Telegram. What an agent does there (press Claim, reply, /note, /close, delete a
topic) comes from the page /dev/support-group/ through the page API below, and reaches
the app the way Telegram sends it: an Update POSTed to the webhook that the app set with
setWebhook, with its X-Telegram-Bot-Api-Secret-Token, one at a time in order.

Page API, beside the Bot API on the same port (JSON in and out):
  GET  /sandbox/state                            the group as a Telegram client shows it
  POST /sandbox/message       {thread_id, text}  an agent writes in a topic
  POST /sandbox/press         {message_id, data} an agent presses an inline button
  POST /sandbox/delete-topic  {thread_id}        an admin deletes a topic
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
from collections import deque
from typing import Any

from telegram_bridge.testing.fake_bot_api import ApiError, FakeBotApi, RequestHandler

logger = logging.getLogger(__name__)

# The developer acts as this agent on the page.
AGENT = {"id": 5_100_001, "is_bot": False, "first_name": "Sam", "username": "sam_agent"}
DELIVERY_ATTEMPTS = 3
# Service messages a Telegram client shows as a line of its own.
SERVICE_TEXTS = {
    "forum_topic_created": "topic created",
    "forum_topic_edited": "topic renamed",
    "forum_topic_closed": "topic closed",
    "forum_topic_reopened": "topic reopened",
}


class SandboxError(Exception):
    """A page request the sandbox refuses (400 with a stable code)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Sandbox:
    """The fake Bot API with one bot and one support group, plus the agent's actions."""

    def __init__(self, *, bot_token: str, group_id: int, group_title: str = "Support (sandbox)"):
        # Telegram accepts only https webhooks; the app under `make run` listens on http.
        self.fake = FakeBotApi(require_https_webhook=False)
        self.bot = self.fake.add_bot(bot_token, username="chatorical_sandbox_bot", first_name="Chatorical")
        self.group_id = group_id
        self.group_title = group_title
        self.fake.add_supergroup(group_id, title=group_title)
        self.fake.set_member(group_id, AGENT["id"], "administrator", AGENT["first_name"], AGENT["username"])
        self._outgoing: queue.Queue[dict | None] = queue.Queue()
        self._deliveries: deque[dict] = deque(maxlen=20)
        self._deliveries_lock = threading.Lock()
        self._sender: threading.Thread | None = None

    def start(self, port: int = 0) -> Sandbox:
        handler_base = type("SandboxHandler", (SandboxRequestHandler,), {"sandbox": self})
        self.fake.start(port=port, handler_base=handler_base)
        self._sender = threading.Thread(target=self._deliver_forever, name="sandbox-webhook", daemon=True)
        self._sender.start()
        return self

    def stop(self) -> None:
        self._outgoing.put(None)
        if self._sender is not None:
            self._sender.join(timeout=5)
        self.fake.stop()

    @property
    def base_url(self) -> str:
        return self.fake.base_url

    # ---------------------------------------------------------------- the page API

    def state(self) -> dict:
        topics = self.fake.topics(self.group_id)
        messages = self.fake.messages(self.group_id, include_service=True)
        pinned = set(self.fake.pinned_ids(self.group_id))
        by_thread: dict[int, list[dict]] = {topic["message_thread_id"]: [] for topic in topics}
        for message in messages:
            thread_id = message.get("message_thread_id") if message.get("is_topic_message") else None
            if thread_id in by_thread:
                by_thread[thread_id].append(_message_view(message, pinned=message["message_id"] in pinned))
        webhook = self.fake.webhook()
        with self._deliveries_lock:
            deliveries = list(self._deliveries)
        return {
            "group": {"id": self.group_id, "title": self.group_title},
            "bot": {"username": self.bot["username"]},
            "agent": {"name": AGENT["first_name"], "username": AGENT["username"]},
            "webhook": {"url": webhook["url"], "secret_token_set": bool(webhook.get("secret_token"))}
            if webhook
            else None,
            "topics": [
                {
                    "thread_id": topic["message_thread_id"],
                    "name": topic["name"],
                    "closed": topic["closed"],
                    "messages": by_thread[topic["message_thread_id"]],
                }
                for topic in reversed(topics)  # newest first, as a client lists them
            ],
            "deliveries": deliveries,
        }

    def act(self, action: str, params: dict) -> dict:
        """Does what an agent or admin does in Telegram; the Update goes to the webhook."""
        try:
            if action == "message":
                text = _required_text(params, "text")
                update = self.fake.add_user_message(
                    self.group_id, text, thread_id=_required_int(params, "thread_id"), user=AGENT
                )
            elif action == "press":
                data = params.get("data")
                update = self.fake.press_button(
                    self.group_id,
                    _required_int(params, "message_id"),
                    data=data if isinstance(data, str) else None,
                    user=AGENT,
                )
            elif action == "delete-topic":
                # Telegram sends no update for a deleted topic: the bot finds out when it next posts.
                self.fake.delete_topic(self.group_id, _required_int(params, "thread_id"))
                return {"ok": True}
            else:
                raise SandboxError("unknown_action", f"No action `{action}`.")
        except ApiError as exc:  # what Telegram would refuse, e.g. a deleted topic
            raise SandboxError("telegram_refused", exc.description) from None
        except ValueError as exc:  # a button the message does not have
            raise SandboxError("invalid_target", str(exc)) from None
        self._outgoing.put(update)
        return {"ok": True, "update_id": update["update_id"]}

    # ------------------------------------------------------------ webhook delivery

    def wait_delivered(self, timeout: float = 10) -> None:
        """Blocks until every queued update was posted (tests and the command's shutdown)."""
        deadline = time.monotonic() + timeout
        while self._outgoing.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)

    def _deliver_forever(self) -> None:
        # One sender: like Telegram, updates reach the webhook one at a time, in order.
        while True:
            update = self._outgoing.get()
            try:
                if update is None:
                    return
                self._record(update["update_id"], self._deliver(update))
            finally:
                self._outgoing.task_done()

    def _deliver(self, update: dict) -> dict:
        outcome: dict[str, Any] = {}
        for attempt in range(1, DELIVERY_ATTEMPTS + 1):
            try:
                status = self.fake.post_update(update)
            except RuntimeError as exc:  # no webhook set
                return {"error": str(exc)}
            except (urllib.error.URLError, OSError) as exc:
                outcome = {"error": f"webhook unreachable: {exc}"}
            else:
                outcome = {"status": status}
                if 200 <= status < 300:
                    return outcome
            logger.warning("sandbox: update %s not accepted (%s), attempt %s", update["update_id"], outcome, attempt)
            time.sleep(0.5 * attempt)
        return outcome

    def _record(self, update_id: int, outcome: dict) -> None:
        with self._deliveries_lock:
            self._deliveries.appendleft({"update_id": update_id, **outcome})


def _message_view(message: dict, *, pinned: bool) -> dict:
    sender = message.get("from", {})
    view = {
        "message_id": message["message_id"],
        "from": sender.get("username") or sender.get("first_name", ""),
        "is_bot": bool(sender.get("is_bot")),
        "date": message["date"],
        "pinned": pinned,
    }
    service = next((key for key in SERVICE_TEXTS if key in message), None)
    if service:
        view["service"] = SERVICE_TEXTS[service]
        name = message[service].get("name") if isinstance(message[service], dict) else None
        if name:
            view["service"] += f": {name}"
    else:
        view["text"] = message.get("text", "")
        buttons = message.get("reply_markup", {}).get("inline_keyboard", [])
        view["buttons"] = [
            {"text": button["text"], "data": button["callback_data"]}
            for row in buttons
            for button in row
            if "callback_data" in button
        ]
    return view


def _required_int(params: dict, name: str) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SandboxError("invalid_field", f"`{name}` must be an integer.")
    return value


def _required_text(params: dict, name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value.strip():
        raise SandboxError("invalid_field", f"`{name}` must be a non-empty text.")
    return value


class SandboxRequestHandler(RequestHandler):
    """The Bot API's routes plus the page API under /sandbox/; `sandbox` is set per server."""

    sandbox: Sandbox

    def _serve(self) -> None:
        if not self.path.startswith("/sandbox/"):
            super()._serve()
            return
        action = self.path[len("/sandbox/") :].split("?", 1)[0]
        try:
            if self.command == "GET" and action == "state":
                self._answer(200, self.sandbox.state())
                return
            if self.command != "POST":
                raise SandboxError("method_not_allowed", "Use POST for actions and GET for /sandbox/state.")
            self._answer(200, self.sandbox.act(action, self._json_body()))
        except SandboxError as exc:
            self._answer(400, {"error": {"code": exc.code, "message": exc.message}})

    def _json_body(self) -> dict:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            raise SandboxError("invalid_json", "The body must be a JSON object.") from None
        if not isinstance(params, dict):
            raise SandboxError("invalid_json", "The body must be a JSON object.")
        return params

    def _answer(self, status: int, payload: dict) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
