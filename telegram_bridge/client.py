"""The one Telegram Bot API client. Every call the project makes goes through `BotClient.call`.

It turns Telegram's error envelope into exceptions the bridge can act on, and treats
"not modified" answers as the success they are.
"""

import logging
import threading

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)


class TelegramError(Exception):
    """A refusal from Telegram, or no answer at all."""

    def __init__(self, description: str, *, error_code: int = 0, parameters: dict | None = None):
        super().__init__(description)
        self.description = description
        self.error_code = error_code
        self.parameters = parameters or {}


class RetryAfter(TelegramError):
    """429: no calls to that chat for `seconds`."""

    @property
    def seconds(self) -> int:
        return int(self.parameters.get("retry_after", 1))


class ThreadNotFound(TelegramError):
    """The topic was deleted (or never existed)."""


class TopicClosed(TelegramError):
    pass


class ChatMigrated(TelegramError):
    """The group became a supergroup with another id."""

    @property
    def new_chat_id(self) -> int:
        return int(self.parameters["migrate_to_chat_id"])


class MissingRights(TelegramError):
    """The bot is not an admin with the right it needs (e.g. can_manage_topics)."""


class BotRemoved(TelegramError):
    """The bot was kicked, the chat is gone, or the token was revoked."""


class Unavailable(TelegramError):
    """A time-out, a network error or a 5xx: worth retrying later."""


def _classify(error_code: int, description: str) -> type[TelegramError]:
    text = description.lower()
    if error_code == 429:
        return RetryAfter
    if "message thread not found" in text:
        return ThreadNotFound
    if "topic_closed" in text:
        return TopicClosed
    if "upgraded to a supergroup" in text:
        return ChatMigrated
    if "not enough rights" in text or "have no rights" in text or "need administrator rights" in text:
        return MissingRights
    if error_code in (401, 403) or "chat not found" in text:
        return BotRemoved
    if error_code >= 500:
        return Unavailable
    return TelegramError


def _is_not_modified(description: str) -> bool:
    text = description.lower()
    return "topic_not_modified" in text or "message is not modified" in text


_http_lock = threading.Lock()
_http_clients: dict[str, httpx.Client] = {}


def _http(base_url: str) -> httpx.Client:
    """One pooled HTTP client per API base, shared by every bot of the process."""
    with _http_lock:
        client = _http_clients.get(base_url)
        if client is None:
            client = _http_clients[base_url] = httpx.Client(
                base_url=base_url,
                timeout=settings.TELEGRAM_TIMEOUT_SECONDS,
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
            )
        return client


class BotClient:
    def __init__(self, token: str, *, base_url: str | None = None):
        self._token = token
        self._base_url = base_url or settings.TELEGRAM_API_BASE

    def __repr__(self):
        return f"BotClient(bot={self.bot_id})"

    @property
    def bot_id(self) -> str:
        return self._token.split(":", 1)[0]

    def call(self, method: str, **params):
        """Calls `method`; returns its `result`, or raises a TelegramError subclass."""
        params = {key: value for key, value in params.items() if value is not None}
        try:
            response = _http(self._base_url).post(f"/bot{self._token}/{method}", json=params)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{method}: {type(exc).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            raise Unavailable(f"{method}: HTTP {response.status_code} without a JSON body") from None
        if body.get("ok"):
            return body.get("result")
        description = str(body.get("description", ""))
        if _is_not_modified(description):
            return True
        error_code = int(body.get("error_code", response.status_code))
        error_class = _classify(error_code, description)
        logger.info("telegram %s refused by bot %s: %s %s", method, self.bot_id, error_code, description)
        raise error_class(description, error_code=error_code, parameters=body.get("parameters"))
