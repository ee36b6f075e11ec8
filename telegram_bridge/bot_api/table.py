"""Load the compact Bot API method table (methods.json, made by gen_method_table.py)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def _load_text() -> str:
    return resources.files(__package__).joinpath("methods.json").read_text(encoding="utf-8")


def load_method_table() -> dict:
    """Return ``{method name: {"fields": {...}, "returns": [...], "limits": {...}}}``.

    Each field is ``{"types": [...], "required": bool}``; ``limits`` is keyed by a
    dotted parameter path (see gen_method_table.LIMITS). A fresh copy every call,
    so callers may change it freely.
    """
    return json.loads(_load_text())["methods"]
