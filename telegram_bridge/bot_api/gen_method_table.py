"""Generate ``methods.json``: the compact table of the Bot API methods the bridge uses.

Usage::

    python telegram_bridge/bot_api/gen_method_table.py path/to/bot-api-spec.json [out.json]

The input is the machine-readable Bot API reference (``methods -> {name: {fields:
[{name, types, required, description}], returns}}``). We keep only facts: field
names, their types and whether they are required, plus the return types. The
description text is not ours, so none of it is copied.

Lengths and ranges exist in the reference only as prose, so they come from
``LIMITS`` below: our own hand-written table, merged into the output. The fake Bot
API server enforces them and the bot client may use them to pre-check requests.

Standard library only, so it runs without the project's virtualenv.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

# The methods the bridge calls, and nothing else: anything outside this list is
# "Not Found" for the fake server, which catches calls we never meant to make.
METHODS = (
    "getMe",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "sendMessage",
    "editMessageText",
    "deleteMessage",
    "pinChatMessage",
    "unpinChatMessage",
    "createForumTopic",
    "editForumTopic",
    "closeForumTopic",
    "reopenForumTopic",
    "deleteForumTopic",
    "answerCallbackQuery",
    "getChat",
    "getChatMember",
    "sendChatAction",
)

# Limit entries, keyed by a path into the request parameters. A path is dotted;
# "*" stands for every element of a list, so
# "reply_markup.inline_keyboard.*.*.callback_data" is the callback_data of every
# inline button. Each entry:
#   min, max  - bounds on the length, measured in `unit`:
#               "utf16" (UTF-16 code units: an emoji counts 2), "chars" (code
#               points) or "bytes" (UTF-8 bytes). Where Telegram says
#               "characters" we count UTF-16 units: never more lenient than it.
#   pattern   - optional regular expression the whole value must match
#   required  - optional: the fake treats the field as required even where the
#               reference does not (editMessageText's text has an alternative,
#               rich_message, that the bridge never uses)
#   errors    - the "Bad Request: ..." description for "empty", "too_long" and
#               "invalid" (pattern mismatch); what Telegram answers, as far as we
#               have seen, otherwise our own wording.
_MESSAGE_TEXT = {
    "min": 1,
    "max": 4096,
    "unit": "utf16",
    "errors": {
        "empty": "message text is empty",
        "too_long": "message is too long",
    },
}
_CALLBACK_DATA = {
    "min": 1,
    "max": 64,
    "unit": "bytes",
    "errors": {
        "empty": "BUTTON_DATA_INVALID",
        "too_long": "BUTTON_DATA_INVALID",
    },
}
_TOPIC_NAME = {
    "min": 1,
    "max": 128,
    "unit": "utf16",
    # Telegram itself may cut an over-long name short; refusing it instead makes
    # the bridge truncate names on purpose.
    "errors": {
        "empty": "topic name is empty",
        "too_long": "topic name is too long",
    },
}

LIMITS = {
    "sendMessage": {
        "text": _MESSAGE_TEXT,
        "reply_markup.inline_keyboard.*.*.callback_data": _CALLBACK_DATA,
    },
    "editMessageText": {
        "text": dict(_MESSAGE_TEXT, required=True),
        "reply_markup.inline_keyboard.*.*.callback_data": _CALLBACK_DATA,
    },
    "createForumTopic": {"name": _TOPIC_NAME},
    "editForumTopic": {"name": _TOPIC_NAME},
    "answerCallbackQuery": {
        "text": {
            "min": 0,
            "max": 200,
            "unit": "utf16",
            "errors": {"too_long": "MESSAGE_TOO_LONG"},
        },
    },
    "setWebhook": {
        "secret_token": {
            "min": 1,
            "max": 256,
            "unit": "chars",
            "pattern": "^[A-Za-z0-9_-]*$",
            "errors": {
                "empty": "secret token is empty",
                "too_long": "secret token is too long",
                "invalid": "secret token contains unallowed characters",
            },
        },
    },
}


def build_table(spec: dict) -> dict:
    """Return the compact table for METHODS, with LIMITS merged in."""
    unknown = set(LIMITS) - set(METHODS)
    if unknown:
        raise ValueError(f"LIMITS names methods outside METHODS: {sorted(unknown)}")
    methods = {}
    for name in METHODS:
        try:
            method = spec["methods"][name]
        except KeyError:
            raise ValueError(f"the spec has no method {name!r}") from None
        fields = {
            field["name"]: {
                "types": list(field["types"]),
                "required": bool(field["required"]),
            }
            for field in method.get("fields") or []
        }
        for path in LIMITS.get(name, {}):
            top = path.split(".", 1)[0]
            if top not in fields:
                raise ValueError(f"LIMITS[{name!r}] names unknown field {top!r}")
        methods[name] = {
            "fields": fields,
            "returns": list(method.get("returns") or []),
            "limits": LIMITS.get(name, {}),
        }
    return {
        "bot_api_version": spec.get("version"),
        "generated_by": "telegram_bridge/bot_api/gen_method_table.py",
        "methods": methods,
    }


def dump_compact(table: dict) -> str:
    """JSON with every innermost object or list on one line: short, diff-friendly."""
    text = json.dumps(table, indent=1, ensure_ascii=False)
    join_lines = lambda match: re.sub(r"\n\s*", " ", match.group(0))  # noqa: E731
    text = re.sub(r"\[[^\[\]{}]*\]", join_lines, text)  # lists of scalars
    text = re.sub(r"\{[^{}]*\}", join_lines, text)  # objects of scalars and such lists
    return text + "\n"


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    out = Path(argv[2]) if len(argv) == 3 else Path(__file__).with_name("methods.json")
    table = build_table(spec)
    out.write_text(dump_compact(table), encoding="utf-8")
    print(f"wrote {len(table['methods'])} methods to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
