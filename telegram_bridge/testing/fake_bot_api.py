"""A strict fake of the Telegram Bot API, served over real HTTP, for the test suite.

The bot client talks to it exactly as to api.telegram.org: ``POST
{base_url}/bot<TOKEN>/<method>`` with a JSON or form-encoded body. The fake keeps
Telegram-like state (forum supergroups, topics, messages, pins, rights, webhooks,
callback queries), answers with Telegram-shaped results and errors, and is
*stricter* than Telegram where strictness catches our bugs: only the methods in
``telegram_bridge/bot_api/methods.json`` exist, and unknown parameters, wrong types
and ``null`` values are refused.

Tests drive it through Python methods (all thread-safe):

* set-up:     add_bot, add_supergroup, set_rights, kick_bot, migrate_chat,
              delete_topic, close_topic, set_member, set_limits
* faults:     fail_next, delay_next
* inbound:    add_user_message, press_button, post_update (what users do in Telegram)
* inspection: calls, messages, topics, pinned, webhook, callback_answers, wait_for

Everything a test can observe goes through the HTTP interface or these methods;
the classes below them are internal. `make run` serves the same fake as its Bot API
sandbox (telegram_bridge/sandbox.py).
"""

from __future__ import annotations

import collections
import copy
import json
import math
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from telegram_bridge.bot_api.table import load_method_table

# The rights the bridge depends on; every bot starts with all of them in every chat.
RIGHTS = ("can_manage_topics", "can_pin_messages", "can_delete_messages")

# Thread 1 is the General topic of a forum: messages there carry no thread id, and
# Telegram refuses it as an explicit message_thread_id.
GENERAL_THREAD_ID = 1

# The six colours Telegram allows for a topic icon; the first is its default.
TOPIC_ICON_COLORS = (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

# InlineKeyboardButton: "text" plus exactly one of the action fields.
BUTTON_ACTIONS = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)
BUTTON_DECORATIONS = frozenset({"text", "icon_custom_emoji_id", "style"})

# Tags Telegram understands in parse_mode=HTML; anything else is refused, which is
# how an unescaped "<" in a visitor's message shows up in production.
HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
PARSE_MODES = frozenset({"html", "markdown", "markdownv2"})

# Bots may delete their own messages for 48 hours without can_delete_messages.
OWN_MESSAGE_DELETE_WINDOW = 48 * 3600

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"


# --------------------------------------------------------------------------- errors


class ApiError(Exception):
    """A refusal, shaped as Telegram sends it; the HTTP status equals error_code."""

    def __init__(self, error_code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict:
        body = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = dict(self.parameters)
        return body


def bad_request(text: str, parameters: dict | None = None) -> ApiError:
    return ApiError(400, f"Bad Request: {text}", parameters)


def forbidden(text: str) -> ApiError:
    return ApiError(403, f"Forbidden: {text}")


UNAUTHORIZED = ApiError(401, "Unauthorized")
NOT_FOUND = ApiError(404, "Not Found")


@dataclass(frozen=True)
class Ok:
    """A successful answer that carries a description too (setWebhook does)."""

    result: Any
    description: str | None = None


# ------------------------------------------------------------- decoding and checks


def decode_params(content_type: str | None, body: bytes, query: str) -> dict:
    """Request parameters from the query string and the body, as Telegram reads them.

    JSON bodies keep their native types; form values are all strings (objects such
    as reply_markup arrive as JSON text). Type checks later accept both forms.
    """
    params: dict[str, Any] = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if not body.strip():
        return params
    if media_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise bad_request("can't parse JSON encoded request body") from None
        if not isinstance(data, dict):
            raise bad_request("the JSON request body must be an object")
        params.update(data)
    elif media_type in ("application/x-www-form-urlencoded", ""):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request("request body is not valid UTF-8") from None
        params.update(urllib.parse.parse_qsl(text, keep_blank_values=True))
    else:
        # Telegram also takes multipart/form-data (file uploads); the bridge never
        # uploads files, so a multipart request here is a bug worth seeing.
        raise bad_request(f"the fake Bot API does not accept {media_type} bodies")
    return params


class WrongType(Exception):
    pass


_INTEGER = re.compile(r"-?[0-9]+")
_SCALARS = ("Integer", "Float", "Boolean", "String", "InputFile")


def parse_value(value: Any, types: list[str]) -> Any:
    """The value as the first of `types` that accepts it, else WrongType.

    Loose the way Telegram is (a numeric string is an Integer, a JSON number is a
    String), strict where it matters: no floats or booleans for Integer, no
    objects for scalars, no null anywhere (send nothing instead).
    """
    for type_name in types:
        try:
            return _parse_as(value, type_name)
        except WrongType:
            continue
    raise WrongType()


def _parse_as(value: Any, type_name: str) -> Any:
    if value is None:
        raise WrongType()
    if type_name == "Integer":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise WrongType()
        if isinstance(value, str) and not _INTEGER.fullmatch(value):
            raise WrongType()
        number = int(value)
        if not -(2**63) <= number < 2**63:  # chat ids are 64-bit, nothing is wider
            raise WrongType()
        return number
    if type_name == "Float":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise WrongType()
        try:
            number = float(value)
        except ValueError:
            raise WrongType() from None
        if not math.isfinite(number):
            raise WrongType()
        return number
    if type_name == "Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, str)) and str(value).lower() in ("true", "1", "false", "0"):
            return str(value).lower() in ("true", "1")
        raise WrongType()
    if type_name == "String":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return json.dumps(value)
        raise WrongType()
    if type_name == "InputFile":  # only the file_id / URL form: no uploads here
        if isinstance(value, str):
            return value
        raise WrongType()
    if type_name.startswith("Array of "):
        items = _json_container(value, list)
        inner = type_name[len("Array of ") :]
        return [_parse_item(item, inner) for item in items]
    return _json_container(value, dict)  # any named object type


def _parse_item(item: Any, type_name: str) -> Any:
    if type_name in _SCALARS or type_name.startswith("Array of "):
        return _parse_as(item, type_name)
    if not isinstance(item, dict):
        raise WrongType()
    return item


def _json_container(value: Any, kind: type) -> Any:
    if isinstance(value, str):  # form-encoded: objects arrive as JSON text
        try:
            value = json.loads(value)
        except ValueError:
            raise WrongType() from None
    if not isinstance(value, kind):
        raise WrongType()
    return value


def check_params(method: str, spec: dict, raw: dict) -> dict:
    """Refuse unknown fields, wrong types and missing required fields; return the parsed params."""
    fields, limits = spec["fields"], spec["limits"]
    for name in raw:
        if name not in fields:
            # Telegram silently ignores unknown parameters; a typo then goes unnoticed.
            raise bad_request(f'unknown parameter "{name}" for {method} (the fake is strict)')
    params = {}
    for name, value in raw.items():
        types = fields[name]["types"]
        try:
            params[name] = parse_value(value, types)
        except WrongType:
            raise bad_request(f'field "{name}" must be of type {" or ".join(types)}') from None
    for name, field_spec in fields.items():
        limit = limits.get(name, {})
        if not (field_spec["required"] or limit.get("required")):
            continue
        value = params.get(name)
        empty = value is None or (value == "" and (method, name) != ("setWebhook", "url"))
        if empty:
            raise bad_request(limit.get("errors", {}).get("empty") or f"{name} is empty")
    return params


def check_limits(limits: dict, params: dict) -> None:
    """Apply the hand-written limits of methods.json (lengths, patterns)."""
    for path, limit in limits.items():
        errors = limit.get("errors", {})
        for value in _values_at(params, path.split(".")):
            text = value if isinstance(value, str) else json.dumps(value)
            size = measure(text, limit.get("unit", "chars"))
            if size < limit.get("min", 0):
                raise bad_request(errors.get("empty") or f"{path} is too short")
            if "max" in limit and size > limit["max"]:
                raise bad_request(errors.get("too_long") or f"{path} is too long")
            if "pattern" in limit and not re.fullmatch(limit["pattern"], text):
                raise bad_request(errors.get("invalid") or f"{path} is invalid")


def measure(text: str, unit: str) -> int:
    if unit == "utf16":
        return len(text.encode("utf-16-le")) // 2
    if unit == "bytes":
        return len(text.encode("utf-8"))
    return len(text)


def _values_at(node: Any, path: list[str]):
    """Every value at a dotted path; "*" walks every element of a list."""
    if not path:
        yield node
        return
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(node, list):
            for item in node:
                yield from _values_at(item, rest)
    elif isinstance(node, dict) and head in node:
        yield from _values_at(node[head], rest)


def check_reply_markup(markup: dict, inline_only: bool) -> None:
    """The shape of reply_markup: a keyboard of buttons with exactly one action each."""
    if "inline_keyboard" not in markup:
        if inline_only or not {"keyboard", "remove_keyboard", "force_reply"} & markup.keys():
            raise bad_request("can't parse reply keyboard markup JSON object")
        return
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    for row in rows:
        for button in row:
            if not isinstance(button, dict):
                raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
            if not isinstance(button.get("text"), str):
                raise bad_request('can\'t parse inline keyboard button: Field "text" must be of type String')
            unknown = button.keys() - BUTTON_ACTIONS - BUTTON_DECORATIONS
            if unknown:
                raise bad_request(f"can't parse inline keyboard button: unknown field {sorted(unknown)[0]!r}")
            actions = button.keys() & BUTTON_ACTIONS
            if not actions:
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if len(actions) > 1:
                raise bad_request("can't parse inline keyboard button: a button must have exactly one action")


class _TelegramHtml(HTMLParser):
    """parse_mode=HTML as Telegram reads it: known tags only, all closed, text kept."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.open_tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in HTML_TAGS:
            raise bad_request(f'can\'t parse entities: Unsupported start tag "{tag}"')
        self.open_tags.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        raise bad_request(f'can\'t parse entities: Unsupported start tag "{tag}"')

    def handle_endtag(self, tag: str) -> None:
        if not self.open_tags or self.open_tags[-1] != tag:
            raise bad_request(f'can\'t parse entities: Unmatched end tag "{tag}"')
        self.open_tags.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _TelegramHtml()
    parser.feed(markup)
    parser.close()
    if parser.open_tags:
        raise bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{parser.open_tags[-1]}\""
        )
    return "".join(parser.parts)


def message_text(params: dict) -> str:
    """The text Telegram would store: HTML markup parsed away, other modes kept as sent."""
    text = params.get("text", "")
    mode = params.get("parse_mode")
    if mode is None or mode == "":
        return text
    if mode.lower() not in PARSE_MODES:
        raise bad_request(f"unsupported parse_mode {mode!r}")
    return html_to_text(text) if mode.lower() == "html" else text


# -------------------------------------------------------------------------- state


@dataclass
class Bot:
    token: str
    id: int
    username: str
    first_name: str
    webhook: dict | None = None
    callback_queries: dict[str, dict] = field(default_factory=dict)  # id -> query
    callback_answers: dict[str, dict] = field(default_factory=dict)  # id -> answer

    def user(self) -> dict:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name, "username": self.username}


@dataclass
class Topic:
    thread_id: int
    name: str
    icon_color: int
    created_by: int | None  # bot id, None when a human made it
    icon_custom_emoji_id: str | None = None
    closed: bool = False
    deleted: bool = False

    def forum_topic(self) -> dict:
        topic = {"message_thread_id": self.thread_id, "name": self.name, "icon_color": self.icon_color}
        if self.icon_custom_emoji_id:
            topic["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return topic


@dataclass
class Chat:
    id: int
    title: str
    type: str = "supergroup"
    is_forum: bool = True
    username: str | None = None
    # Message 1 is the "group created" service message, which is also why the
    # General topic has id 1; new messages start at 2.
    next_message_id: int = 2
    messages: dict[int, dict] = field(default_factory=dict)  # insertion = send order
    topics: dict[int, Topic] = field(default_factory=dict)
    pinned: list[int] = field(default_factory=list)  # oldest first
    rights: dict[int, dict] = field(default_factory=dict)  # bot id -> rights
    kicked: set[int] = field(default_factory=set)  # bot ids
    members: dict[int, dict] = field(default_factory=dict)  # user id -> ChatMember
    migrated_to: int | None = None

    def summary(self) -> dict:
        chat = {"id": self.id, "type": self.type, "title": self.title}
        if self.username:
            chat["username"] = self.username
        if self.is_forum:
            chat["is_forum"] = True
        return chat

    def rights_of(self, bot: Bot) -> dict:
        return self.rights.setdefault(bot.id, {right: True for right in RIGHTS})


class SlidingWindow:
    """Timestamps of recent events per key, to refuse the event that would exceed a rate."""

    def __init__(self) -> None:
        self._events: dict[Any, collections.deque] = collections.defaultdict(collections.deque)

    def retry_after(self, key: Any, limit: int, window: float, now: float) -> int | None:
        """Whole seconds until one more event fits (at least 1), or None if it fits now."""
        events = self._events[key]
        while events and events[0] <= now - window:
            events.popleft()
        if len(events) < limit:
            return None
        return max(1, math.ceil(events[-limit] + window - now))

    def add(self, key: Any, now: float) -> None:
        self._events[key].append(now)


class ManualClock:
    """An injectable clock that only moves when told to: ``clock.advance(61)``."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@dataclass(frozen=True)
class RecordedCall:
    """One request the fake answered, accepted or refused."""

    method: str  # the canonical name; as sent when the method does not exist
    token: str
    params: dict  # decoded when the request got that far, raw otherwise
    time: float  # from the injectable clock
    response: dict  # the JSON body sent back

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def status(self) -> int:
        return 200 if self.ok else self.response["error_code"]

    @property
    def chat_id(self) -> int | str | None:
        return _chat_key(self.params.get("chat_id"))


def _chat_key(value: Any) -> int | str | None:
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    return value


@dataclass
class _Fault:
    method: str
    chat_id: int | str | None
    error: ApiError
    remaining: int


_UNSET = object()


# ------------------------------------------------------------ Telegram's behaviour


class TelegramBehaviour:
    """What Telegram does with a call: state lookups, refusals, rate limits, and one
    ``_api_<method>`` per entry of methods.json (params already type-checked).

    FakeBotApi below holds the state (_bots, _chats, _windows, _clock, the limits)
    and calls these with its lock held; this half only knows Telegram.
    """

    _bots: dict[str, Bot]
    _chats: dict[int, Chat]
    _windows: SlidingWindow
    _clock: Callable[[], float]
    group_per_minute: int | None
    bot_per_second: int | None
    require_https_webhook: bool

    def _chat_for(self, bot: Bot, chat_id: int | str) -> Chat:
        """The chat an API call names, with Telegram's refusals."""
        if isinstance(chat_id, str):  # "@username"
            chat = next((c for c in self._chats.values() if c.username and "@" + c.username == chat_id), None)
        else:
            chat = self._chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        if chat.migrated_to is not None:
            raise bad_request("group chat was upgraded to a supergroup chat", {"migrate_to_chat_id": chat.migrated_to})
        if bot.id in chat.kicked:
            raise forbidden(f"bot was kicked from the {chat.type} chat")
        return chat

    def _live_topic(self, chat: Chat, thread_id: int) -> Topic:
        topic = chat.topics.get(thread_id)
        if topic is None or topic.deleted or not chat.is_forum:
            raise bad_request("message thread not found")
        return topic

    def _require(self, chat: Chat, bot: Bot, right: str, refusal: str) -> None:
        if not chat.rights_of(bot)[right]:
            raise bad_request(refusal)

    def _require_topic_admin(self, chat: Chat, bot: Bot, topic: Topic, refusal: str) -> None:
        # The creator of a topic may manage it without can_manage_topics.
        if topic.created_by != bot.id:
            self._require(chat, bot, "can_manage_topics", refusal)

    def _post(self, chat: Chat, sender: dict, thread_id: int | None, **content: Any) -> dict:
        """Append a message to the chat, numbered like Telegram numbers them: per chat, increasing."""
        message_id = chat.next_message_id
        chat.next_message_id += 1
        message = {
            "message_id": message_id,
            "from": dict(sender),
            "date": int(self._clock()),
            "chat": chat.summary(),
        }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
            # A message in a topic without an explicit reply is a reply to the topic's
            # creation message: a thread id alone does not mean "in a topic".
            if "reply_to_message" not in content and thread_id in chat.messages:
                message["reply_to_message"] = _without_reply(chat.messages[thread_id])
        message.update(content)
        chat.messages[message_id] = message
        return message

    def _remove_topic(self, chat: Chat, topic: Topic) -> None:
        topic.deleted = True
        for message_id, message in list(chat.messages.items()):
            if message.get("is_topic_message") and message.get("message_thread_id") == topic.thread_id:
                del chat.messages[message_id]
        chat.pinned = [mid for mid in chat.pinned if mid in chat.messages]

    def _check_rate_limits(self, bot: Bot, chat: Chat) -> None:
        now = self._clock()
        waits = []
        if self.group_per_minute is not None:
            waits.append(self._windows.retry_after(("chat", chat.id), self.group_per_minute, 60, now))
        if self.bot_per_second is not None:
            waits.append(self._windows.retry_after(("bot", bot.id), self.bot_per_second, 1, now))
        wait = max((w for w in waits if w is not None), default=None)
        if wait is not None:
            raise ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})

    def _count_message(self, bot: Bot, chat: Chat) -> None:
        now = self._clock()
        self._windows.add(("chat", chat.id), now)
        self._windows.add(("bot", bot.id), now)

    # ------------------------------------------------------------- API methods

    def _api_getMe(self, bot: Bot, params: dict) -> dict:
        return dict(
            bot.user(),
            can_join_groups=True,
            can_read_all_group_messages=False,
            supports_inline_queries=False,
            can_connect_to_business=False,
            has_main_web_app=False,
        )

    def _api_setWebhook(self, bot: Bot, params: dict) -> Ok:
        url = params["url"]
        if url == "":  # Telegram's way of removing the webhook
            return self._api_deleteWebhook(bot, {})
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: Failed to resolve host: Name or service not known")
        if self.require_https_webhook:
            if parts.scheme != "https":
                raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
            if (parts.port or 443) not in (80, 88, 443, 8443):
                raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        hook = {
            "url": url,
            "has_custom_certificate": False,
            "pending_update_count": 0,
            "max_connections": params.get("max_connections", 40),
            "secret_token": params.get("secret_token"),
            "allowed_updates": params.get("allowed_updates"),
            "ip_address": params.get("ip_address"),
        }
        if bot.webhook and not params.get("drop_pending_updates"):
            hook["pending_update_count"] = bot.webhook["pending_update_count"]
        unchanged = bot.webhook == hook
        bot.webhook = hook
        return Ok(True, "Webhook is already set" if unchanged else "Webhook was set")

    def _api_deleteWebhook(self, bot: Bot, params: dict) -> Ok:
        existed, bot.webhook = bot.webhook is not None, None
        return Ok(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    def _api_getWebhookInfo(self, bot: Bot, params: dict) -> dict:
        if bot.webhook is None:
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        # Telegram never reveals the secret token; unset optional fields are absent.
        return {k: v for k, v in bot.webhook.items() if k != "secret_token" and v is not None}

    def _api_sendMessage(self, bot: Bot, params: dict) -> dict:
        if "business_connection_id" in params or "direct_messages_topic_id" in params:
            raise bad_request("the fake Bot API does not support business or direct-messages chats")
        chat = self._chat_for(bot, params["chat_id"])
        text = message_text(params)
        thread_id = params.get("message_thread_id")
        topic = None
        if thread_id is not None:
            if thread_id == GENERAL_THREAD_ID:
                raise bad_request("message thread not found")
            topic = self._live_topic(chat, thread_id)
        content: dict[str, Any] = {"text": text}
        reply = params.get("reply_parameters")
        if reply is not None:
            target = self._reply_target(chat, reply)
            if target is not None:
                content["reply_to_message"] = _without_reply(target)
                if topic is None and target.get("is_topic_message"):
                    # A reply lands in the thread of the message it answers.
                    topic = self._live_topic(chat, target["message_thread_id"])
        if topic is not None and topic.closed:
            raise bad_request("TOPIC_CLOSED")
        if "reply_markup" in params and "inline_keyboard" in params["reply_markup"]:
            content["reply_markup"] = params["reply_markup"]
        self._check_rate_limits(bot, chat)
        self._count_message(bot, chat)
        return self._post(chat, bot.user(), topic.thread_id if topic else None, **content)

    def _reply_target(self, chat: Chat, reply: dict) -> dict | None:
        try:
            message_id = parse_value(reply.get("message_id"), ["Integer"])
        except WrongType:
            raise bad_request('field "message_id" of ReplyParameters must be of type Integer') from None
        if _chat_key(reply.get("chat_id", chat.id)) != chat.id:
            raise bad_request("the fake Bot API does not support replies to other chats")
        target = chat.messages.get(message_id)
        if target is None and not reply.get("allow_sending_without_reply"):
            raise bad_request("message to be replied not found")
        return target

    def _api_editMessageText(self, bot: Bot, params: dict) -> dict:
        if "inline_message_id" in params or "business_connection_id" in params or "rich_message" in params:
            raise bad_request("the fake Bot API only edits chat messages by chat_id and message_id")
        if "chat_id" not in params or "message_id" not in params:
            raise bad_request("message identifier is not specified")
        chat = self._chat_for(bot, params["chat_id"])
        message = chat.messages.get(params["message_id"])
        if message is None:
            raise bad_request("message to edit not found")
        if message["from"]["id"] != bot.id:
            raise bad_request("message can't be edited")
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text = message_text(params)
        # Leaving reply_markup out removes the keyboard, as in Telegram.
        markup = params.get("reply_markup")
        if text == message["text"] and markup == message.get("reply_markup"):
            raise bad_request(NOT_MODIFIED)
        message["text"] = text
        message["edit_date"] = int(self._clock())
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        return message

    def _api_deleteMessage(self, bot: Bot, params: dict) -> bool:
        chat = self._chat_for(bot, params["chat_id"])
        message = chat.messages.get(params["message_id"])
        if message is None:
            raise bad_request("message to delete not found")
        own_and_recent = message["from"]["id"] == bot.id and self._clock() - message["date"] < OWN_MESSAGE_DELETE_WINDOW
        if not (own_and_recent or chat.rights_of(bot)["can_delete_messages"]):
            raise bad_request("message can't be deleted")
        if message["message_id"] in chat.topics:
            raise bad_request("message can't be deleted")  # a topic goes with deleteForumTopic
        del chat.messages[message["message_id"]]
        chat.pinned = [mid for mid in chat.pinned if mid != message["message_id"]]
        return True

    def _api_pinChatMessage(self, bot: Bot, params: dict) -> bool:
        chat = self._chat_for(bot, params["chat_id"])
        self._require(chat, bot, "can_pin_messages", "not enough rights to manage pinned messages in the chat")
        message_id = params["message_id"]
        if message_id not in chat.messages:
            raise bad_request("message to pin not found")
        chat.pinned = [mid for mid in chat.pinned if mid != message_id] + [message_id]
        return True

    def _api_unpinChatMessage(self, bot: Bot, params: dict) -> bool:
        if "business_connection_id" in params:
            raise bad_request("the fake Bot API does not support business chats")
        chat = self._chat_for(bot, params["chat_id"])
        self._require(chat, bot, "can_pin_messages", "not enough rights to manage pinned messages in the chat")
        message_id = params.get("message_id")
        if message_id is None:
            if chat.pinned:
                chat.pinned.pop()
        elif message_id in chat.pinned:
            chat.pinned.remove(message_id)
        else:
            raise bad_request("message to unpin not found")
        return True

    def _api_createForumTopic(self, bot: Bot, params: dict) -> dict:
        chat = self._chat_for(bot, params["chat_id"])
        if not chat.is_forum:
            raise bad_request("the chat is not a forum")
        self._require(chat, bot, "can_manage_topics", "not enough rights to create a topic")
        icon_color = params.get("icon_color", TOPIC_ICON_COLORS[0])
        if icon_color not in TOPIC_ICON_COLORS:
            raise bad_request("TOPIC_ICON_COLOR_INVALID")  # our wording
        # The topic's id is the id of its creation service message.
        thread_id = chat.next_message_id
        topic = Topic(thread_id, params["name"], icon_color, bot.id, params.get("icon_custom_emoji_id"))
        created = {"name": topic.name, "icon_color": topic.icon_color}
        if topic.icon_custom_emoji_id:
            created["icon_custom_emoji_id"] = topic.icon_custom_emoji_id
        self._post(chat, bot.user(), thread_id, forum_topic_created=created)
        chat.topics[thread_id] = topic
        return topic.forum_topic()

    def _forum_topic(self, bot: Bot, params: dict) -> tuple[Chat, Topic]:
        chat = self._chat_for(bot, params["chat_id"])
        if not chat.is_forum:
            raise bad_request("the chat is not a forum")
        return chat, self._live_topic(chat, params["message_thread_id"])

    def _api_editForumTopic(self, bot: Bot, params: dict) -> bool:
        chat, topic = self._forum_topic(bot, params)
        self._require_topic_admin(chat, bot, topic, "not enough rights to edit a topic")
        name = params.get("name", topic.name)
        emoji = params.get("icon_custom_emoji_id", topic.icon_custom_emoji_id)
        if name == topic.name and emoji == topic.icon_custom_emoji_id:
            raise bad_request("TOPIC_NOT_MODIFIED")
        edited = {}
        if name != topic.name:
            edited["name"] = name
        if emoji != topic.icon_custom_emoji_id:
            edited["icon_custom_emoji_id"] = emoji
        topic.name, topic.icon_custom_emoji_id = name, emoji
        self._post(chat, bot.user(), topic.thread_id, forum_topic_edited=edited)
        return True

    def _api_closeForumTopic(self, bot: Bot, params: dict) -> bool:
        return self._set_closed(bot, params, closed=True)

    def _api_reopenForumTopic(self, bot: Bot, params: dict) -> bool:
        return self._set_closed(bot, params, closed=False)

    def _set_closed(self, bot: Bot, params: dict, closed: bool) -> bool:
        chat, topic = self._forum_topic(bot, params)
        self._require_topic_admin(chat, bot, topic, "not enough rights to manage topics")
        if topic.closed == closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.closed = closed
        service = "forum_topic_closed" if closed else "forum_topic_reopened"
        self._post(chat, bot.user(), topic.thread_id, **{service: {}})
        return True

    def _api_deleteForumTopic(self, bot: Bot, params: dict) -> bool:
        chat, topic = self._forum_topic(bot, params)
        self._require(chat, bot, "can_delete_messages", "not enough rights to delete a topic")
        self._remove_topic(chat, topic)
        return True

    def _api_answerCallbackQuery(self, bot: Bot, params: dict) -> bool:
        query_id = params["callback_query_id"]
        if query_id not in bot.callback_queries or query_id in bot.callback_answers:
            raise bad_request(QUERY_TOO_OLD)
        answer = {k: v for k, v in params.items() if k != "callback_query_id"}
        bot.callback_answers[query_id] = dict(answer, time=self._clock())
        return True

    def _api_getChat(self, bot: Bot, params: dict) -> dict:
        chat = self._chat_for(bot, params["chat_id"])
        info = dict(chat.summary(), accent_color_id=0, max_reaction_count=11)
        if chat.pinned:
            info["pinned_message"] = chat.messages[chat.pinned[-1]]
        return info

    def _api_getChatMember(self, bot: Bot, params: dict) -> dict:
        chat = self._chat_for(bot, params["chat_id"])
        user_id = params["user_id"]
        if user_id == bot.id:
            rights = chat.rights_of(bot)
            if not any(rights.values()):
                return {"status": "member", "user": bot.user()}
            return dict(
                status="administrator",
                user=bot.user(),
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_change_info=False,
                can_invite_users=True,
                can_restrict_members=False,
                can_promote_members=False,
                can_manage_video_chats=False,
                can_post_stories=False,
                can_edit_stories=False,
                can_delete_stories=False,
                **rights,
            )
        member = chat.members.get(user_id)
        if member is None:
            raise bad_request("user not found")
        return member

    def _api_sendChatAction(self, bot: Bot, params: dict) -> bool:
        if "business_connection_id" in params:
            raise bad_request("the fake Bot API does not support business chats")
        chat = self._chat_for(bot, params["chat_id"])
        thread_id = params.get("message_thread_id")
        if thread_id is not None and thread_id != GENERAL_THREAD_ID:
            self._live_topic(chat, thread_id)
        if params["action"] not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True


# ---------------------------------------------------------------------- the fake


class FakeBotApi(TelegramBehaviour):
    """The fake Telegram Bot API server. Start it, register bots and chats, point the client at base_url."""

    def __init__(
        self,
        *,
        group_per_minute: int | None = 20,
        bot_per_second: int | None = 30,
        clock: Callable[[], float] = time.time,
        require_https_webhook: bool = True,
    ) -> None:
        self.group_per_minute = group_per_minute
        self.bot_per_second = bot_per_second
        self.require_https_webhook = require_https_webhook
        self._clock = clock
        self._table = load_method_table()
        self._method_names = {name.lower(): name for name in self._table}  # Telegram ignores case
        missing = [name for name in self._table if not hasattr(self, f"_api_{name}")]
        assert not missing, f"methods.json lists methods the fake does not implement: {missing}"

        self._lock = threading.RLock()
        self._bots: dict[str, Bot] = {}
        self._chats: dict[int, Chat] = {}
        self._calls: list[RecordedCall] = []
        self._faults: list[_Fault] = []
        self._delays: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._windows = SlidingWindow()
        self._next_update_id = 100_000
        self._next_callback_id = 1

        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # ------------------------------------------------------------ server lifecycle

    def start(self, port: int = 0, handler_base: type[RequestHandler] | None = None) -> FakeBotApi:
        """Serves on 127.0.0.1:`port` (a free one by default); `handler_base` adds routes
        beside the Bot API's (the dev sandbox's page API)."""
        if self._server is not None:
            return self
        handler = type("FakeBotApiHandler", (handler_base or RequestHandler,), {"fake": self})
        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        # A short poll interval keeps stop() (and so every test's teardown) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-bot-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes requests held by delay_next
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake Bot API is not running; call start()")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE should be: the client appends /bot<TOKEN>/<method>."""
        return f"http://127.0.0.1:{self.port}"

    def bot_url(self, token: str | None = None) -> str:
        return f"{self.base_url}/bot{token or self.default_token}"

    @property
    def default_token(self) -> str:
        """The first bot registered: what token=None means in the helpers below."""
        with self._lock:
            if not self._bots:
                raise RuntimeError("no bot registered; call add_bot()")
            return next(iter(self._bots))

    # ------------------------------------------------------------------- set-up

    def add_bot(
        self,
        token: str,
        username: str = "chatorical_test_bot",
        bot_id: int | None = None,
        first_name: str = "Chatorical Test Bot",
    ) -> dict:
        """Register a bot token; its id defaults to the digits before ":" like a real token."""
        if bot_id is None:
            prefix = token.split(":", 1)[0]
            bot_id = int(prefix) if prefix.isdigit() else 7_000_000_000 + len(self._bots)
        with self._lock:
            self._bots[token] = Bot(token=token, id=bot_id, username=username, first_name=first_name)
            return self._bots[token].user()

    def add_supergroup(
        self, chat_id: int, title: str = "Support", forum: bool = True, username: str | None = None
    ) -> None:
        """A supergroup (with topics on by default) where every bot is an admin with all RIGHTS."""
        with self._lock:
            self._chats[chat_id] = Chat(id=chat_id, title=title, is_forum=forum, username=username)

    def set_rights(self, chat_id: int, token: str | None = None, **rights: bool) -> None:
        """Change a bot's admin rights in a chat, e.g. ``set_rights(chat, can_manage_topics=False)``."""
        unknown = set(rights) - set(RIGHTS)
        if unknown:
            raise TypeError(f"unknown rights {sorted(unknown)}; known: {RIGHTS}")
        with self._lock:
            self._chat(chat_id).rights_of(self._bot(token)).update(rights)

    def kick_bot(self, chat_id: int, token: str | None = None) -> None:
        """The bot is removed from the chat: every call about it gets 403."""
        with self._lock:
            self._chat(chat_id).kicked.add(self._bot(token).id)

    def migrate_chat(self, old_id: int, new_id: int, title: str | None = None, forum: bool = True) -> None:
        """old_id becomes a group upgraded to supergroup new_id (created if missing, rights copied)."""
        with self._lock:
            old = self._chats.get(old_id)
            if old is None:
                old = Chat(id=old_id, title=title or "Group", type="group", is_forum=False)
                self._chats[old_id] = old
            old.migrated_to = new_id
            if new_id not in self._chats:
                self._chats[new_id] = Chat(
                    id=new_id,
                    title=title or old.title,
                    is_forum=forum,
                    rights=copy.deepcopy(old.rights),
                )

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """A human admin deletes a topic (and with it every message in it)."""
        with self._lock:
            chat = self._chat(chat_id)
            self._remove_topic(chat, self._live_topic(chat, thread_id))

    def close_topic(self, chat_id: int, thread_id: int) -> None:
        """A human admin closes a topic."""
        with self._lock:
            chat = self._chat(chat_id)
            topic = self._live_topic(chat, thread_id)
            if not topic.closed:
                topic.closed = True
                self._post(chat, _HUMAN_ADMIN, thread_id, forum_topic_closed={})

    def set_member(
        self,
        chat_id: int,
        user_id: int,
        status: str = "member",
        first_name: str = "Operator",
        username: str | None = None,
    ) -> None:
        """A human member of the chat, as getChatMember reports them ("administrator", "member", "left"...)."""
        with self._lock:
            user = {"id": user_id, "is_bot": False, "first_name": first_name}
            if username:
                user["username"] = username
            self._chat(chat_id).members[user_id] = {"status": status, "user": user}

    def set_limits(self, group_per_minute: Any = _UNSET, bot_per_second: Any = _UNSET) -> None:
        """Change the rate limits; None turns one off. Omitted arguments stay as they are."""
        with self._lock:
            if group_per_minute is not _UNSET:
                self.group_per_minute = group_per_minute
            if bot_per_second is not _UNSET:
                self.bot_per_second = bot_per_second

    # ------------------------------------------------------------------- faults

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str,
        parameters: dict | None = None,
        times: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """The next `times` well-formed calls of `method` (to `chat_id`, if given) fail with this error.

        The description is sent verbatim, e.g. ``"Too Many Requests: retry after 5"``
        with ``parameters={"retry_after": 5}``. Malformed calls are still refused
        for what is wrong with them and do not use up the fault.
        """
        with self._lock:
            self._faults.append(
                _Fault(method, _chat_key(chat_id), ApiError(error_code, description, parameters), times)
            )

    def delay_next(self, method: str, seconds: float) -> None:
        """Hold the next call of `method` for `seconds` of real time, then handle it.

        The call still takes effect after the delay, as with a slow Telegram: a
        client that timed out does not know whether its message went out.
        """
        with self._lock:
            self._delays[method].append(seconds)

    # ------------------------------------------------------ what users do in Telegram

    def add_user_message(self, chat_id: int, text: str, thread_id: int | None = None, user: dict | None = None) -> dict:
        """A human writes in the chat (in a topic, or General). Returns the Update the bot would receive."""
        user = user or {"id": 5_000_001, "is_bot": False, "first_name": "Operator", "username": "operator"}
        with self._lock:
            chat = self._chat(chat_id)
            if thread_id is not None:
                self._live_topic(chat, thread_id)
            chat.members.setdefault(user["id"], {"status": "member", "user": user})
            message = self._post(chat, user, thread_id, text=text)
            return self._update(message=copy.deepcopy(message))

    def press_button(
        self,
        chat_id: int,
        message_id: int,
        data: str | None = None,
        user: dict | None = None,
        token: str | None = None,
    ) -> dict:
        """A human presses an inline button of a message. Returns the Update with the callback_query.

        `data` defaults to the first callback button; a button the message does not
        have cannot be pressed (ValueError).
        """
        user = user or {"id": 5_000_001, "is_bot": False, "first_name": "Operator", "username": "operator"}
        with self._lock:
            bot = self._bot(token)
            message = self._chat(chat_id).messages.get(message_id)
            if message is None:
                raise ValueError(f"no message {message_id} in chat {chat_id}")
            path = ["inline_keyboard", "*", "*", "callback_data"]
            buttons = list(_values_at(message.get("reply_markup", {}), path))
            if data is None and buttons:
                data = buttons[0]
            if data not in buttons:
                raise ValueError(f"message {message_id} has no button with callback_data {data!r}")
            query_id = str(self._next_callback_id)
            self._next_callback_id += 1
            query = {
                "id": query_id,
                "from": user,
                "message": copy.deepcopy(message),
                "chat_instance": str(abs(chat_id)),
                "data": data,
            }
            bot.callback_queries[query_id] = query
            return self._update(callback_query=copy.deepcopy(query))

    def post_update(self, update: dict, token: str | None = None, timeout: float = 10) -> int:
        """Deliver an Update to the bot's webhook like Telegram does; returns the HTTP status."""
        with self._lock:
            hook = copy.deepcopy(self._bot(token).webhook)
        if not hook:
            raise RuntimeError("no webhook set for this bot")
        request = urllib.request.Request(
            hook["url"],
            data=json.dumps(update).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        if hook.get("secret_token"):
            request.add_header("X-Telegram-Bot-Api-Secret-Token", hook["secret_token"])
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    # --------------------------------------------------------------- inspection

    def calls(
        self, method: str | None = None, chat_id: int | str | None = None, token: str | None = None
    ) -> list[RecordedCall]:
        """Every request answered so far, oldest first, accepted and refused alike."""
        with self._lock:
            return [
                copy.deepcopy(call)
                for call in self._calls
                if (method is None or call.method == method)
                and (chat_id is None or call.chat_id == _chat_key(chat_id))
                and (token is None or call.token == token)
            ]

    def messages(self, chat_id: int, thread_id: int | None = None, include_service: bool = False) -> list[dict]:
        """Messages still visible in the chat, oldest first; thread_id=1 means General.

        Service messages (forum_topic_created...) only with include_service=True.
        """
        with self._lock:
            found = []
            for message in self._chat(chat_id).messages.values():
                in_topic = message.get("is_topic_message")
                in_thread = message["message_thread_id"] if in_topic else GENERAL_THREAD_ID
                if thread_id is not None and in_thread != thread_id:
                    continue
                if "text" not in message and not include_service:
                    continue
                found.append(copy.deepcopy(message))
            return found

    def topics(self, chat_id: int, include_deleted: bool = False) -> list[dict]:
        """ForumTopic objects plus "closed" and "deleted" flags, oldest first."""
        with self._lock:
            return [
                dict(topic.forum_topic(), closed=topic.closed, deleted=topic.deleted)
                for topic in self._chat(chat_id).topics.values()
                if include_deleted or not topic.deleted
            ]

    def pinned(self, chat_id: int) -> dict | None:
        """The most recently pinned message still pinned, or None."""
        with self._lock:
            chat = self._chat(chat_id)
            return copy.deepcopy(chat.messages[chat.pinned[-1]]) if chat.pinned else None

    def pinned_ids(self, chat_id: int) -> list[int]:
        """Ids of every message still pinned in the chat, oldest pin first."""
        with self._lock:
            return list(self._chat(chat_id).pinned)

    def webhook(self, token: str | None = None) -> dict | None:
        """The webhook as set (secret_token included), or None."""
        with self._lock:
            return copy.deepcopy(self._bot(token).webhook)

    def callback_answers(self, token: str | None = None) -> dict[str, dict]:
        """answerCallbackQuery calls accepted so far: callback_query_id -> the answer."""
        with self._lock:
            return copy.deepcopy(self._bot(token).callback_answers)

    def wait_for(self, predicate: Callable[[FakeBotApi], Any], timeout: float = 5, interval: float = 0.02) -> Any:
        """Poll predicate(fake) in real time until it is truthy; return its value, or fail the test."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"fake Bot API: condition not met within {timeout} s")
            time.sleep(interval)

    # ------------------------------------------------------ helpers for the above

    def _bot(self, token: str | None) -> Bot:
        return self._bots[token or self.default_token]

    def _chat(self, chat_id: int) -> Chat:
        """A chat for the test helpers; a test naming an unknown chat is a test bug."""
        try:
            return self._chats[chat_id]
        except KeyError:
            raise KeyError(f"the fake has no chat {chat_id}; call add_supergroup()") from None

    def _update(self, **content: Any) -> dict:
        self._next_update_id += 1
        return {"update_id": self._next_update_id, **content}

    # -------------------------------------------------------- request handling

    def handle(self, token: str, method: str, content_type: str | None, body: bytes, query: str) -> dict:
        """Answer one HTTP request to /bot<token>/<method>; the HTTP layer only moves bytes."""
        name = self._method_names.get(method.lower())
        delay = None
        if name is not None:
            with self._lock:
                if self._delays[name]:
                    delay = self._delays[name].popleft()
        if delay:
            self._stopping.wait(delay)  # outside the lock: other calls go on meanwhile

        # Decode first so that even refused calls are recorded with what they sent,
        # but report in Telegram's order: token, method, then the parameters.
        decode_error = None
        try:
            params = decode_params(content_type, body, query)
        except ApiError as error:
            params, decode_error = {}, error

        with self._lock:
            now = self._clock()
            try:
                bot = self._bots.get(token)
                if bot is None:
                    raise UNAUTHORIZED
                if name is None:
                    raise NOT_FOUND
                if decode_error is not None:
                    raise decode_error
                spec = self._table[name]
                params = check_params(name, spec, params)
                if name in ("sendMessage", "editMessageText"):
                    check_limits(spec["limits"], dict(params, text=message_text(params)))
                    if isinstance(params.get("reply_markup"), dict):
                        check_reply_markup(params["reply_markup"], inline_only=name == "editMessageText")
                else:
                    check_limits(spec["limits"], params)
                self._raise_injected_fault(name, params)
                result = getattr(self, f"_api_{name}")(bot, params)
                if not isinstance(result, Ok):
                    result = Ok(result)
                response = {"ok": True, "result": result.result}
                if result.description:
                    response["description"] = result.description
            except ApiError as error:
                response = error.payload()
            response = copy.deepcopy(response)  # later state changes must not rewrite history
            self._calls.append(RecordedCall(name or method, token, copy.deepcopy(params), now, response))
            return response

    def _raise_injected_fault(self, method: str, params: dict) -> None:
        chat_id = _chat_key(params.get("chat_id"))
        for fault in self._faults:
            if fault.method == method and fault.chat_id in (None, chat_id):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                raise fault.error


# A human admin, the sender of service messages made by test helpers.
_HUMAN_ADMIN = {"id": 5_000_000, "is_bot": False, "first_name": "Admin"}


def _without_reply(message: dict) -> dict:
    """Telegram nests reply_to_message one level deep only."""
    return {k: v for k, v in copy.deepcopy(message).items() if k != "reply_to_message"}


# ------------------------------------------------------------------- HTTP layer

_PATH = re.compile(r"/bot([^/]+)/([^/]*)")


class RequestHandler(BaseHTTPRequestHandler):
    """Moves bytes between HTTP and FakeBotApi.handle; `fake` is set per server."""

    fake: FakeBotApi
    server_version = "nginx"  # what api.telegram.org says
    sys_version = ""

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _PATH.fullmatch(url.path)
        if match is None:
            payload = NOT_FOUND.payload()
        else:
            token, method = urllib.parse.unquote(match[1]), match[2]
            payload = self.fake.handle(token, method, self.headers.get("Content-Type"), body, url.query)
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(200 if payload["ok"] else payload["error_code"])
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; fake.calls() is the log
