"""Resolve what rules and posts target (a network, a named account) to the accounts they reach."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.config import Settings


@dataclass(frozen=True)
class Account:
    """One account of a network; the unnamed one (``name == ""``) is a network without accounts."""

    network: str
    name: str
    languages: tuple[str, ...]

    @property
    def key(self) -> str:
        """How rules, commands and the delivery log name it: ``x``, or ``x:kurdish``."""
        return f"{self.network}:{self.name}" if self.name else self.network


def split_target(target: str) -> tuple[str, str]:
    """Split ``x:kurdish`` into network and account; ``x`` has the account ``""``."""
    network, _, account = target.partition(":")
    return network, account


def network_accounts(settings: Settings, network: str) -> list[Account]:
    """The enabled accounts of an enabled network: its named ones, or the one it has."""
    options = settings.channels.get(network)
    if options is None or not options.enabled:
        return []
    if not options.accounts:
        return [Account(network, "", tuple(settings.channel_languages(network)))]
    return [
        Account(network, name, tuple(account.languages))
        for name, account in options.accounts.items()
        if account.enabled
    ]


def all_accounts(settings: Settings) -> list[Account]:
    """Every enabled account of every enabled network, in config order."""
    return [
        a for network in settings.enabled_channels for a in network_accounts(settings, network)
    ]


def target_names(settings: Settings) -> list[str]:
    """Every name a rule or a command may target: networks, then their named accounts."""
    named = [a.key for a in all_accounts(settings) if a.name]
    return list(settings.enabled_channels) + named


def accounts_for(settings: Settings, targets: Iterable[str], lang: str) -> list[Account]:
    """The accounts a post in ``lang`` goes to: each target's accounts that carry ``lang``.

    ``x`` means every X account, ``x:kurdish`` that one; unknown or disabled targets go nowhere
    (the config and the commands reject them before they are stored).
    """
    chosen: dict[str, Account] = {}
    for target in targets:
        network, name = split_target(target)
        for account in network_accounts(settings, network):
            if (not name or account.name == name) and lang in account.languages:
                chosen.setdefault(account.key, account)
    return list(chosen.values())


def delivery_accounts(settings: Settings, targets: Iterable[str], lang: str) -> list[Account]:
    """Like ``accounts_for``, but a network missing from the config is kept as it was named,
    so its delivery is recorded and fails saying the channel is not configured."""
    chosen: list[Account] = []
    for target in targets:
        network, name = split_target(target)
        if network_accounts(settings, network):
            chosen += accounts_for(settings, [target], lang)
        else:
            chosen.append(Account(network, name, (lang,)))
    return list({account.key: account for account in chosen}.values())


def daily_cap(settings: Settings, network: str, name: str) -> int:
    """An X account's daily cap: its own, else the network's ``max_posts_per_day``."""
    options = settings.channels[network]
    own = options.accounts.get(name) if name else None
    if own is not None and own.max_posts_per_day is not None:
        return own.max_posts_per_day
    return options.max_posts_per_day
