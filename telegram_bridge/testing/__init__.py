"""Test helpers for the Telegram bridge: a strict fake Bot API server and its pytest fixture."""
