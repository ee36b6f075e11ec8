"""Telegram Bot API facts the bridge relies on (see methods.json and table.py)."""
