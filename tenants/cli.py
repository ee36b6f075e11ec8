"""What other apps add to `manage.py tenant` (tenants cannot import them), registered in
their AppConfig.ready: subcommands (billing's `plan`), and the function behind
`telegram --set-webhook` (telegram_bridge's)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tenants.models import Tenant


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


class WebhookSetter(Protocol):
    """Points the tenant's bot at this deployment's webhook; raises ApiError if it cannot."""

    def __call__(self, *, tenant: Tenant, base_url: str) -> object: ...


_webhook_setter: WebhookSetter | None = None


def webhook_setter_register(setter: WebhookSetter) -> None:
    global _webhook_setter
    _webhook_setter = setter


def webhook_setter() -> WebhookSetter | None:
    return _webhook_setter
