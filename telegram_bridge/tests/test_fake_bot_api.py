"""Tests of the fake Telegram Bot API itself, over real HTTP with httpx.

No database and no Django: these tests use no `db` fixture and import nothing
from Django, so they run with or without pytest-django (``-p no:django``).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from telegram_bridge.bot_api.table import load_method_table
from telegram_bridge.testing.fake_bot_api import FakeBotApi, ManualClock
from telegram_bridge.testing.fixtures import (  # noqa: F401  (fake_bot_api is a fixture)
    DEFAULT_BOT_ID,
    DEFAULT_BOT_TOKEN,
    fake_bot_api,
)
from telegram_bridge.testing.fixtures import (
    DEFAULT_CHAT_ID as CHAT,
)

OTHER_CHAT = -1009876543210

# One client for the module: making an httpx client costs more than a request here.
HTTP = httpx.Client(timeout=5)


def call(fake: FakeBotApi, method: str, token: str | None = None, **params) -> dict:
    """POST a JSON body like the bot client does; return the decoded answer with its status."""
    response = HTTP.post(f"{fake.bot_url(token)}/{method}", json=params)
    body = response.json()
    assert response.status_code == (200 if body["ok"] else body["error_code"])
    return body


def call_form(fake: FakeBotApi, method: str, **params) -> dict:
    response = HTTP.post(f"{fake.bot_url()}/{method}", data=params)
    return response.json()


def error(body: dict) -> tuple[int, str]:
    assert body["ok"] is False, body
    return body["error_code"], body["description"]


def new_topic(fake: FakeBotApi, name: str = "Visitor 1", chat_id: int = CHAT) -> int:
    body = call(fake, "createForumTopic", chat_id=chat_id, name=name)
    assert body["ok"], body
    return body["result"]["message_thread_id"]


@pytest.fixture
def fake(fake_bot_api):  # noqa: F811  (a short name for the shared fixture)
    return fake_bot_api


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)


@pytest.fixture
def clocked_api(clock: ManualClock):
    """A fake on a manual clock, for the rate limits."""
    with FakeBotApi(clock=clock, group_per_minute=20, bot_per_second=30) as fake:
        fake.add_bot(DEFAULT_BOT_TOKEN, bot_id=DEFAULT_BOT_ID)
        fake.add_supergroup(CHAT)
        fake.add_supergroup(OTHER_CHAT)
        yield fake


# ------------------------------------------------------------------ method table


def test_method_table_has_only_the_bridge_methods_and_no_descriptions():
    table = load_method_table()
    assert len(table) == 18
    assert table["sendMessage"]["fields"]["chat_id"] == {"types": ["Integer", "String"], "required": True}
    assert table["sendMessage"]["limits"]["text"]["max"] == 4096
    assert "description" not in json.dumps(table)


# --------------------------------------------------------------------- strictness


def test_get_me_answers_like_telegram(fake):
    body = call(fake, "getMe")
    assert body["ok"] is True
    assert body["result"]["id"] == DEFAULT_BOT_ID
    assert body["result"]["is_bot"] is True


def test_unknown_token_is_401_and_unknown_method_is_404(fake):
    assert error(call(fake, "getMe", token="42:nope")) == (401, "Unauthorized")
    assert error(call(fake, "getUpdates")) == (404, "Not Found")
    assert error(call(fake, "sendMesage", chat_id=CHAT, text="x")) == (404, "Not Found")
    # Telegram matches method names regardless of case.
    assert call(fake, "getme")["ok"] is True


def test_missing_required_fields(fake):
    assert error(call(fake, "sendMessage", text="hi")) == (400, "Bad Request: chat_id is empty")
    assert error(call(fake, "sendMessage", chat_id=CHAT)) == (400, "Bad Request: message text is empty")
    assert error(call(fake, "sendMessage", chat_id=CHAT, text="")) == (400, "Bad Request: message text is empty")
    assert error(call(fake, "createForumTopic", chat_id=CHAT)) == (400, "Bad Request: topic name is empty")


def test_wrong_types_are_refused(fake):
    for bad in ("abc", 1.5, "1.0", True, None, [1], {"a": 1}):
        code, text = error(call(fake, "sendMessage", chat_id=CHAT, text="hi", message_thread_id=bad))
        assert (code, text) == (400, 'Bad Request: field "message_thread_id" must be of type Integer'), bad
    code, text = error(call(fake, "sendMessage", chat_id=CHAT, text="hi", disable_notification="yes"))
    assert code == 400 and "Boolean" in text
    code, text = error(call(fake, "sendMessage", chat_id=CHAT, text={"not": "a string"}))
    assert code == 400 and "String" in text
    code, text = error(call(fake, "sendMessage", chat_id=CHAT, text="hi", reply_markup="[not json"))
    assert code == 400 and "reply_markup" in text


def test_loose_types_telegram_accepts(fake):
    # "Integer or String": a numeric string is the chat id, other strings are usernames.
    assert call(fake, "sendMessage", chat_id=str(CHAT), text="hi")["ok"]
    assert error(call(fake, "sendMessage", chat_id="@nobody", text="hi")) == (400, "Bad Request: chat not found")
    assert call(fake, "sendMessage", chat_id=CHAT, text=12345)["result"]["text"] == "12345"
    assert call(fake, "sendMessage", chat_id=CHAT, text="hi", disable_notification="true")["ok"]


def test_unknown_field_is_refused(fake):
    code, text = error(call(fake, "sendMessage", chat_id=CHAT, text="hi", message_thread=5))
    assert code == 400 and 'unknown parameter "message_thread"' in text


def test_text_length_counts_utf16_code_units(fake):
    assert call(fake, "sendMessage", chat_id=CHAT, text="a" * 4096)["ok"]
    too_long = (400, "Bad Request: message is too long")
    assert error(call(fake, "sendMessage", chat_id=CHAT, text="a" * 4097)) == too_long
    emoji = "\U0001f600"  # two UTF-16 code units
    assert call(fake, "sendMessage", chat_id=CHAT, text=emoji * 2048)["ok"]
    assert error(call(fake, "sendMessage", chat_id=CHAT, text=emoji * 2049)) == too_long


def test_html_parse_mode_is_parsed_and_checked(fake):
    body = call(fake, "sendMessage", chat_id=CHAT, text="<b>Hi</b> &lt;you&gt;", parse_mode="HTML")
    assert body["result"]["text"] == "Hi <you>"
    code, text = error(call(fake, "sendMessage", chat_id=CHAT, text="1 <script>", parse_mode="HTML"))
    assert code == 400 and text.startswith("Bad Request: can't parse entities")
    code, text = error(call(fake, "sendMessage", chat_id=CHAT, text="<b>open", parse_mode="HTML"))
    assert code == 400 and "end tag" in text
    # The limit applies to the text after parsing, as in Telegram.
    assert call(fake, "sendMessage", chat_id=CHAT, text="<b>" + "a" * 4096 + "</b>", parse_mode="HTML")["ok"]


# ------------------------------------------------------------------------ topics


def test_topic_lifecycle_and_thread_ids(fake):
    first = call(fake, "sendMessage", chat_id=CHAT, text="in General")["result"]
    assert "message_thread_id" not in first and "is_topic_message" not in first

    created = call(fake, "createForumTopic", chat_id=CHAT, name="Visitor 1")["result"]
    thread = created["message_thread_id"]
    assert created == {"message_thread_id": thread, "name": "Visitor 1", "icon_color": 0x6FB9F0}
    # The thread id is the message id of the topic's creation service message.
    service = fake.messages(CHAT, thread, include_service=True)[0]
    assert service["message_id"] == thread == first["message_id"] + 1
    assert service["forum_topic_created"]["name"] == "Visitor 1"

    sent = call(fake, "sendMessage", chat_id=CHAT, message_thread_id=thread, text="Hello")["result"]
    assert sent["message_id"] == thread + 1
    assert sent["message_thread_id"] == thread and sent["is_topic_message"] is True
    assert sent["chat"] == {"id": CHAT, "type": "supergroup", "title": "Chatorical Support", "is_forum": True}
    assert sent["from"]["id"] == DEFAULT_BOT_ID and sent["from"]["is_bot"] is True
    assert sent["text"] == "Hello" and isinstance(sent["date"], int)
    assert [m["text"] for m in fake.messages(CHAT, thread)] == ["Hello"]

    assert call(fake, "editForumTopic", chat_id=CHAT, message_thread_id=thread, name="Visitor 1 (Ann)") == {
        "ok": True,
        "result": True,
    }
    assert error(call(fake, "editForumTopic", chat_id=CHAT, message_thread_id=thread, name="Visitor 1 (Ann)")) == (
        400,
        "Bad Request: TOPIC_NOT_MODIFIED",
    )
    assert fake.topics(CHAT)[0]["name"] == "Visitor 1 (Ann)"

    second = new_topic(fake, "Visitor 2")
    assert second > sent["message_id"]  # service messages take message ids too


def test_closed_topic_refuses_messages_until_reopened(fake):
    thread = new_topic(fake)
    assert call(fake, "closeForumTopic", chat_id=CHAT, message_thread_id=thread)["result"] is True
    assert error(call(fake, "closeForumTopic", chat_id=CHAT, message_thread_id=thread)) == (
        400,
        "Bad Request: TOPIC_NOT_MODIFIED",
    )
    assert error(call(fake, "sendMessage", chat_id=CHAT, message_thread_id=thread, text="hi")) == (
        400,
        "Bad Request: TOPIC_CLOSED",
    )
    assert fake.topics(CHAT)[0]["closed"] is True
    assert call(fake, "reopenForumTopic", chat_id=CHAT, message_thread_id=thread)["ok"]
    assert call(fake, "sendMessage", chat_id=CHAT, message_thread_id=thread, text="hi")["ok"]


def test_deleted_or_unknown_thread_is_not_found(fake):
    not_found = (400, "Bad Request: message thread not found")
    thread = new_topic(fake)
    call(fake, "sendMessage", chat_id=CHAT, message_thread_id=thread, text="before")
    fake.delete_topic(CHAT, thread)  # an admin deletes it in Telegram
    assert error(call(fake, "sendMessage", chat_id=CHAT, message_thread_id=thread, text="after")) == not_found
    assert fake.messages(CHAT, thread) == []
    assert fake.topics(CHAT) == []
    assert fake.topics(CHAT, include_deleted=True)[0]["deleted"] is True

    assert error(call(fake, "sendMessage", chat_id=CHAT, message_thread_id=999, text="x")) == not_found
    assert error(call(fake, "sendMessage", chat_id=CHAT, message_thread_id=1, text="x")) == not_found

    other = new_topic(fake, "Visitor 2")
    assert call(fake, "deleteForumTopic", chat_id=CHAT, message_thread_id=other)["result"] is True
    assert error(call(fake, "sendMessage", chat_id=CHAT, message_thread_id=other, text="x")) == not_found


def test_topic_name_limits(fake):
    assert call(fake, "createForumTopic", chat_id=CHAT, name="n" * 128)["ok"]
    code, text = error(call(fake, "createForumTopic", chat_id=CHAT, name="n" * 129))
    assert code == 400 and "too long" in text
    thread = new_topic(fake)
    code, _ = error(call(fake, "editForumTopic", chat_id=CHAT, message_thread_id=thread, name="n" * 129))
    assert code == 400


# ------------------------------------------------------------------ editing, pins


def test_edit_message_text_not_modified_and_keyboard_removal(fake):
    markup = {"inline_keyboard": [[{"text": "Claim", "callback_data": "claim:1"}]]}
    sent = call(fake, "sendMessage", chat_id=CHAT, text="New chat", reply_markup=markup)["result"]
    mid = sent["message_id"]
    not_modified = call(fake, "editMessageText", chat_id=CHAT, message_id=mid, text="New chat", reply_markup=markup)
    code, text = error(not_modified)
    assert code == 400 and text.startswith("Bad Request: message is not modified")

    # Leaving reply_markup out removes the keyboard, which is a modification.
    edited = call(fake, "editMessageText", chat_id=CHAT, message_id=mid, text="New chat")["result"]
    assert "reply_markup" not in edited and "edit_date" in edited
    edited = call(fake, "editMessageText", chat_id=CHAT, message_id=mid, text="Claimed by Ann")["result"]
    assert edited["text"] == "Claimed by Ann"
    assert error(call(fake, "editMessageText", chat_id=CHAT, message_id=9999, text="x")) == (
        400,
        "Bad Request: message to edit not found",
    )
    assert error(call(fake, "editMessageText", chat_id=CHAT, message_id=mid, text="")) == (
        400,
        "Bad Request: message text is empty",
    )


def test_pin_and_delete(fake):
    mid = call(fake, "sendMessage", chat_id=CHAT, text="pin me")["result"]["message_id"]
    assert call(fake, "pinChatMessage", chat_id=CHAT, message_id=mid, disable_notification=True)["result"] is True
    assert fake.pinned(CHAT)["message_id"] == mid
    assert call(fake, "getChat", chat_id=CHAT)["result"]["pinned_message"]["message_id"] == mid
    assert call(fake, "unpinChatMessage", chat_id=CHAT, message_id=mid)["ok"]
    assert fake.pinned(CHAT) is None
    assert call(fake, "deleteMessage", chat_id=CHAT, message_id=mid)["result"] is True
    assert fake.messages(CHAT) == []
    assert error(call(fake, "deleteMessage", chat_id=CHAT, message_id=mid)) == (
        400,
        "Bad Request: message to delete not found",
    )


# ------------------------------------------------------------------ chat problems


def test_missing_rights(fake):
    fake.set_rights(CHAT, can_manage_topics=False, can_pin_messages=False, can_delete_messages=False)
    assert error(call(fake, "createForumTopic", chat_id=CHAT, name="x")) == (
        400,
        "Bad Request: not enough rights to create a topic",
    )
    mid = call(fake, "sendMessage", chat_id=CHAT, text="x")["result"]["message_id"]
    assert error(call(fake, "pinChatMessage", chat_id=CHAT, message_id=mid)) == (
        400,
        "Bad Request: not enough rights to manage pinned messages in the chat",
    )
    member = call(fake, "getChatMember", chat_id=CHAT, user_id=DEFAULT_BOT_ID)["result"]
    assert member["status"] == "member"

    fake.set_rights(CHAT, can_manage_topics=True)
    thread = new_topic(fake)
    code, text = error(call(fake, "deleteForumTopic", chat_id=CHAT, message_thread_id=thread))
    assert code == 400 and "not enough rights" in text
    member = call(fake, "getChatMember", chat_id=CHAT, user_id=DEFAULT_BOT_ID)["result"]
    assert member["status"] == "administrator" and member["can_manage_topics"] is True
    assert member["can_pin_messages"] is False
    with pytest.raises(TypeError):
        fake.set_rights(CHAT, can_manage_topic=True)  # typo in a test is caught too


def test_unknown_chat_migrated_chat_and_kicked_bot(fake):
    assert error(call(fake, "sendMessage", chat_id=-100111, text="x")) == (400, "Bad Request: chat not found")

    fake.migrate_chat(CHAT, OTHER_CHAT)
    body = call(fake, "sendMessage", chat_id=CHAT, text="x")
    assert error(body) == (400, "Bad Request: group chat was upgraded to a supergroup chat")
    assert body["parameters"] == {"migrate_to_chat_id": OTHER_CHAT}
    assert call(fake, "sendMessage", chat_id=OTHER_CHAT, text="x")["ok"]

    fake.kick_bot(OTHER_CHAT)
    assert error(call(fake, "sendMessage", chat_id=OTHER_CHAT, text="x")) == (
        403,
        "Forbidden: bot was kicked from the supergroup chat",
    )
    assert error(call(fake, "getChat", chat_id=OTHER_CHAT))[0] == 403


# --------------------------------------------------------------------- rate limits


def test_twenty_messages_a_minute_into_one_group(clocked_api, clock):
    thread = new_topic(clocked_api, chat_id=CHAT)
    for i in range(20):  # spread over topics and General: one budget per group
        params = {"message_thread_id": thread} if i % 2 else {}
        assert call(clocked_api, "sendMessage", chat_id=CHAT, text=f"m{i}", **params)["ok"]
        clock.advance(1)
    # 20.25 s after the first message, which frees its slot at 60 s: 39.75 s, rounded up.
    clock.advance(0.25)
    body = call(clocked_api, "sendMessage", chat_id=CHAT, text="one too many")
    assert error(body) == (429, "Too Many Requests: retry after 40")
    assert body["parameters"] == {"retry_after": 40}
    # Another group has its own budget.
    assert call(clocked_api, "sendMessage", chat_id=OTHER_CHAT, text="elsewhere")["ok"]
    clock.advance(39.75)  # exactly 60 s after the first message
    assert call(clocked_api, "sendMessage", chat_id=CHAT, text="fits again")["ok"]
    assert error(call(clocked_api, "sendMessage", chat_id=CHAT, text="but only one"))[0] == 429
    # Refused sends are not messages: they neither count nor appear.
    assert len(clocked_api.messages(CHAT)) == 21


def test_thirty_messages_a_second_per_bot(clocked_api, clock):
    clocked_api.set_limits(group_per_minute=None)
    for i in range(30):
        assert call(clocked_api, "sendMessage", chat_id=CHAT if i % 2 else OTHER_CHAT, text=f"m{i}")["ok"]
        clock.advance(0.01)
    body = call(clocked_api, "sendMessage", chat_id=CHAT, text="31st")
    assert error(body) == (429, "Too Many Requests: retry after 1")
    assert body["parameters"]["retry_after"] == 1
    clock.advance(0.71)  # one second after the first message
    assert call(clocked_api, "sendMessage", chat_id=CHAT, text="fits again")["ok"]


def test_limits_can_be_switched_off(clocked_api):
    clocked_api.set_limits(group_per_minute=None, bot_per_second=None)
    for i in range(45):
        assert call(clocked_api, "sendMessage", chat_id=CHAT, text=f"m{i}")["ok"]


# ------------------------------------------------------ form bodies and keyboards


def test_form_encoded_reply_markup(fake):
    thread = new_topic(fake)
    markup = {"inline_keyboard": [[{"text": "Claim", "callback_data": "claim:42"}]]}
    body = call_form(
        fake,
        "sendMessage",
        chat_id=str(CHAT),
        message_thread_id=str(thread),
        text="New visitor",
        reply_markup=json.dumps(markup),
        disable_notification="true",
    )
    assert body["ok"], body
    assert body["result"]["reply_markup"] == markup
    recorded = fake.calls("sendMessage")[-1]
    # Recorded params are decoded: the form's strings became the declared types.
    assert recorded.params["chat_id"] == CHAT and recorded.params["message_thread_id"] == thread
    assert recorded.params["reply_markup"] == markup and recorded.params["disable_notification"] is True

    assert error(call_form(fake, "sendMessage", chat_id=str(CHAT), text="x", message_thread_id="x"))[0] == 400


def test_callback_data_is_limited_to_64_bytes(fake):
    def send(data):
        return call(
            fake,
            "sendMessage",
            chat_id=CHAT,
            text="x",
            reply_markup={"inline_keyboard": [[{"text": "b", "callback_data": data}]]},
        )

    assert send("a" * 64)["ok"]
    invalid = (400, "Bad Request: BUTTON_DATA_INVALID")
    assert error(send("a" * 65)) == invalid
    assert error(send("\u00e9" * 33)) == invalid  # 66 bytes in UTF-8
    assert error(send("")) == invalid
    plain = call(fake, "sendMessage", chat_id=CHAT, text="x", reply_markup={"inline_keyboard": [[{"text": "b"}]]})
    assert error(plain)[0] == 400


# ------------------------------------------------------ callbacks and webhooks


def test_callback_queries_are_answered_once(fake):
    markup = {"inline_keyboard": [[{"text": "Claim", "callback_data": "claim:7"}]]}
    mid = call(fake, "sendMessage", chat_id=CHAT, text="x", reply_markup=markup)["result"]["message_id"]
    update = fake.press_button(CHAT, mid)
    query = update["callback_query"]
    assert query["data"] == "claim:7" and query["message"]["message_id"] == mid
    assert error(call(fake, "answerCallbackQuery", callback_query_id=query["id"], text="t" * 201)) == (
        400,
        "Bad Request: MESSAGE_TOO_LONG",
    )
    assert call(fake, "answerCallbackQuery", callback_query_id=query["id"], text="Claimed")["result"] is True
    assert fake.callback_answers()[query["id"]]["text"] == "Claimed"
    code, text = error(call(fake, "answerCallbackQuery", callback_query_id=query["id"]))
    assert code == 400 and "query is too old" in text
    with pytest.raises(ValueError):
        fake.press_button(CHAT, mid, data="not-a-button")


def test_set_webhook_checks_the_secret_and_hides_it(fake):
    url = "https://chatorical.example/telegram/webhook/abc"
    code, text = error(call(fake, "setWebhook", url=url, secret_token="has:colon"))
    assert (code, text) == (400, "Bad Request: secret token contains unallowed characters")
    assert error(call(fake, "setWebhook", url=url, secret_token="s" * 257))[0] == 400
    code, text = error(call(fake, "setWebhook", url="http://chatorical.example/hook"))
    assert code == 400 and "HTTPS" in text

    body = call(
        fake, "setWebhook", url=url, secret_token="S3cret_-token", allowed_updates=["message", "callback_query"]
    )
    assert body == {"ok": True, "result": True, "description": "Webhook was set"}
    info = call(fake, "getWebhookInfo")["result"]
    assert info["url"] == url and info["allowed_updates"] == ["message", "callback_query"]
    assert "secret_token" not in info
    assert fake.webhook()["secret_token"] == "S3cret_-token"
    assert call(fake, "deleteWebhook", drop_pending_updates=True)["description"] == "Webhook was deleted"
    assert fake.webhook() is None
    assert call(fake, "getWebhookInfo")["result"]["url"] == ""


def test_post_update_delivers_to_the_webhook_with_the_secret_header():
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        with FakeBotApi(require_https_webhook=False) as fake:
            fake.add_bot(DEFAULT_BOT_TOKEN)
            fake.add_supergroup(CHAT)
            hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
            assert call(fake, "setWebhook", url=hook, secret_token="abc")["ok"]
            thread = new_topic(fake, chat_id=CHAT)
            update = fake.add_user_message(CHAT, "Hi, I'm the operator", thread_id=thread)
            message = update["message"]
            assert message["is_topic_message"] is True and message["message_thread_id"] == thread
            assert message["reply_to_message"]["forum_topic_created"]["name"] == "Visitor 1"
            assert fake.post_update(update) == 200
    finally:
        receiver.shutdown()
        receiver.server_close()
    assert received == [("abc", update)]


# ------------------------------------------------------------ faults and records


def test_fail_next_injects_errors_then_recovers(fake):
    fake.fail_next(
        "sendMessage",
        429,
        "Too Many Requests: retry after 7",
        parameters={"retry_after": 7},
        times=2,
        chat_id=CHAT,
    )
    assert call(fake, "sendMessage", chat_id=OTHER_CHAT, text="x")["description"] == "Bad Request: chat not found"
    for _ in range(2):
        body = call(fake, "sendMessage", chat_id=CHAT, text="x")
        assert error(body) == (429, "Too Many Requests: retry after 7")
        assert body["parameters"] == {"retry_after": 7}
    assert call(fake, "sendMessage", chat_id=CHAT, text="x")["ok"]
    # Malformed calls are refused for what is wrong with them, not the fault.
    fake.fail_next("sendMessage", 500, "Internal Server Error")
    assert error(call(fake, "sendMessage", chat_id=CHAT))[1] == "Bad Request: message text is empty"
    assert error(call(fake, "sendMessage", chat_id=CHAT, text="x")) == (500, "Internal Server Error")


def test_delay_next_times_out_the_client_but_still_sends(fake):
    fake.delay_next("sendMessage", 0.6)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{fake.bot_url()}/sendMessage", json={"chat_id": CHAT, "text": "slow"}, timeout=0.2)
    messages = fake.wait_for(lambda fake: fake.messages(CHAT), timeout=5)
    assert [m["text"] for m in messages] == ["slow"]
    assert call(fake, "sendMessage", chat_id=CHAT, text="fast")["ok"]  # only the next call waits


def test_calls_record_accepted_and_refused(fake):
    call(fake, "sendMessage", chat_id=CHAT, text="ok")
    call(fake, "sendMessage", chat_id=CHAT, text="")
    call(fake, "getMe")
    sends = fake.calls("sendMessage", chat_id=CHAT)
    assert [c.ok for c in sends] == [True, False]
    assert sends[0].response["result"]["text"] == "ok" and sends[0].status == 200
    assert sends[1].status == 400 and sends[1].params == {"chat_id": CHAT, "text": ""}
    assert [c.method for c in fake.calls()] == ["sendMessage", "sendMessage", "getMe"]


def test_wait_for_fails_the_test_on_timeout(fake):
    with pytest.raises(AssertionError):
        fake.wait_for(lambda fake: fake.messages(CHAT), timeout=0.1)


def test_concurrent_sends_get_unique_increasing_ids(fake):
    fake.set_limits(group_per_minute=None, bot_per_second=None)
    results = []

    def send(i):
        results.append(call(fake, "sendMessage", chat_id=CHAT, text=f"m{i}")["result"]["message_id"])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [m["message_id"] for m in fake.messages(CHAT)]
    assert len(set(results)) == 16


def test_chat_action_and_chat_member(fake):
    assert call(fake, "sendChatAction", chat_id=CHAT, action="typing")["result"] is True
    assert error(call(fake, "sendChatAction", chat_id=CHAT, action="dancing")) == (
        400,
        "Bad Request: wrong parameter action in request",
    )
    fake.set_member(CHAT, 42, status="administrator", first_name="Ann")
    assert call(fake, "getChatMember", chat_id=CHAT, user_id=42)["result"]["status"] == "administrator"
    assert error(call(fake, "getChatMember", chat_id=CHAT, user_id=43)) == (400, "Bad Request: user not found")
