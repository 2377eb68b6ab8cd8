"""The publisher registry (publishers.yaml): which domains are each publisher's own sites."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from bot.library.loader import PUBLISHERS_FILE, Library, Problem, unknown_message
from bot.library.models import Source

_DOMAIN = r"^(?=.{1,253}$)([a-z0-9-]+\.)+[a-z]{2,}$"


@dataclass
class Registry:
    """Publisher name to its domains; a URL is on a domain when its host is it or under it."""

    publishers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def owns(self, publisher: str, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        return any(
            host == domain or host.endswith("." + domain)
            for domain in self.publishers.get(publisher, ())
        )


def load_registry(root: Path) -> tuple[Registry | None, list[Problem]]:
    """Read ``publishers.yaml``; ``None`` when the file is missing."""

    path = root / PUBLISHERS_FILE
    if not path.exists():
        return None, []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return Registry(), [Problem(PUBLISHERS_FILE, f"malformed YAML: {exc}")]
    if not isinstance(data, dict) or set(data) != {"publishers"}:
        return Registry(), [Problem(PUBLISHERS_FILE, "expected a mapping with only 'publishers:'")]
    registry, problems = Registry(), []
    for name, domains in (data["publishers"] or {}).items():
        if not isinstance(domains, list) or not domains:
            problems.append(Problem(PUBLISHERS_FILE, f"{name}: expected a list of domains"))
            continue
        good = []
        for domain in domains:
            if isinstance(domain, str) and re.match(_DOMAIN, domain):
                good.append(domain)
            else:
                problems.append(
                    Problem(
                        PUBLISHERS_FILE,
                        f"{name}: {domain!r} is not a domain (write it like amnesty.org, "
                        "lower case, without https:// or a path)",
                    )
                )
        registry.publishers[str(name)] = tuple(good)
    return registry, problems


@dataclass
class SourceReport:
    """What the registry says about the library's sources."""

    problems: list[Problem] = field(default_factory=list)
    second_hand: list[Problem] = field(default_factory=list)  # one warning per `via` source


def check_sources(library: Library) -> SourceReport:
    """Check every source's URL against its publisher's (or its `via` site's) domains."""
    registry, problems = load_registry(library.root)
    report = SourceReport(problems=problems)
    sourced = [item for item in library.items.values() if item.source is not None]
    if registry is None:
        if sourced:
            report.problems.append(
                Problem(
                    PUBLISHERS_FILE,
                    f"missing: {len(sourced)} sourced {'item' if len(sourced) == 1 else 'items'}, "
                    "but no registry of publishers and their domains to check their URLs against",
                )
            )
        return report
    for item in sourced:
        assert item.source is not None
        rel = library.files[item.id]
        for message in _source_problems(registry, item.source):
            report.problems.append(Problem(rel, message, item=item.id))
        source = item.source
        if source.via is not None:
            report.second_hand.append(
                Problem(
                    rel,
                    f"second-hand source: {source.publisher} via {source.via} "
                    f"({source.link}); the publisher's own page was not confirmed",
                    item=item.id,
                )
            )
    return report


def _source_problems(registry: Registry, source: Source) -> list[str]:
    known = registry.publishers
    messages = []
    if source.publisher not in known:
        what = unknown_message("publisher", source.publisher, known)
        messages.append(f"source.publisher (add it to {PUBLISHERS_FILE} with its domains): {what}")
    if source.via is not None and source.via not in known:
        what = unknown_message("publisher", source.via, known)
        messages.append(
            f"source.via (a publisher in {PUBLISHERS_FILE}, the site carrying the copy): {what}"
        )
    if messages:
        return messages
    host = urlsplit(source.link).hostname or ""
    if source.via is None and not registry.owns(source.publisher, source.link):
        domains = ", ".join(known[source.publisher])
        messages.append(
            f"source.url: {host} is not a domain of {source.publisher} ({domains}); cite the "
            "publisher's own page, or mark the copy with `via: SITE`"
        )
    elif source.via is not None and not registry.owns(source.via, source.link):
        domains = ", ".join(known[source.via])
        messages.append(f"source.url: {host} is not a domain of {source.via} ({domains})")
    return messages
