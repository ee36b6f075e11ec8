"""Subcommands that other apps add to `manage.py tenant` (tenants cannot import them):
registered in their AppConfig.ready."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    add_arguments: Callable  # (argparse parser) -> None
    handle: Callable  # (command, **options) -> None; raises CommandError


_subcommands: dict[str, Subcommand] = {}


def subcommand_register(subcommand: Subcommand) -> None:
    _subcommands[subcommand.name] = subcommand


def subcommands() -> list[Subcommand]:
    return list(_subcommands.values())
