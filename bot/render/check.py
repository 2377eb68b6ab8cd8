"""Render every item for every enabled channel and language, and collect what is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.config import LoadedConfig, Rule, Settings
from bot.library import Item, Library, Problem, load_library, unknown_message
from bot.library.publishers import check_sources
from bot.library.reviews import stale_reviews
from bot.render.engine import Rendered, Renderer, RenderError
from bot.render.limits import RULES


@dataclass
class CheckReport:
    """Every render and every problem of one campaign."""

    library: Library
    renders: dict[str, list[Rendered]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # said, but not failing the check
    second_hand: int = 0  # sources marked `via` (each also one of the warnings)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        items = []
        for item in self.library.items.values():
            source = item.source
            items.append(
                {
                    "id": item.id,
                    "kind": item.kind,
                    "topics": list(item.topics),
                    "languages": list(item.text),
                    "reviewed": list(item.reviewed),
                    "status": None
                    if item.status is None
                    else {
                        "state": item.status.state,
                        "date": item.status.date.isoformat(),
                        "summary": item.status.summary(),
                    },
                    "source": None
                    if source is None
                    else {
                        "publisher": source.publisher,
                        "title": source.title,
                        "url": source.link,
                        "date": source.date,
                        "via": source.via,
                        "section": source.section,
                    },
                    "renders": [
                        {
                            "channel": r.channel,
                            "lang": r.lang,
                            "length": r.length,
                            "limit": r.limit,
                            "ok": r.fits,
                            "reviewed": r.reviewed,
                        }
                        for r in self.renders.get(item.id, [])
                    ],
                }
            )
        return {
            "items": items,
            "errors": [_problem_json(p) for p in self.problems],
            "warnings": [_problem_json(p) for p in self.warnings],
            "second_hand_sources": self.second_hand,
        }


def _problem_json(p: Problem) -> dict[str, Any]:
    return {
        "file": p.file,
        "item": p.item,
        "channel": p.channel,
        "lang": p.lang,
        "message": p.message,
    }


def check_campaign(loaded: LoadedConfig) -> CheckReport:
    """Load the library and render every item everywhere it may be published."""
    library, problems = load_library(loaded.library_dir)
    report = CheckReport(library=library, problems=list(problems), warnings=list(library.warnings))
    sources = check_sources(library)
    report.problems.extend(sources.problems)
    report.warnings.extend(sources.second_hand)
    report.second_hand = len(sources.second_hand)
    report.warnings.extend(_stale_review_warnings(library))
    settings = loaded.settings
    report.problems.extend(_schedule_problems(str(loaded.path), settings, library))
    report.problems.extend(_signup_link_problems(str(loaded.path), settings, library))
    renderer = Renderer(library, settings)
    for item in library.items.values():
        if any(target not in library.targets for target in item.targets):
            continue  # already reported by the loader; it cannot render without its targets
        rel = library.files[item.id]
        for channel in settings.enabled_channels:
            for lang in settings.channel_languages(channel):
                try:
                    rendered = renderer.render(item, channel, lang)
                except RenderError as exc:
                    report.problems.append(
                        Problem(rel, str(exc), item=item.id, channel=channel, lang=lang)
                    )
                    continue
                report.renders.setdefault(item.id, []).append(rendered)
                threads = settings.threads_long_posts(channel)
                if not rendered.fits and not threads:
                    report.problems.append(
                        Problem(
                            rel, _over_length(rendered), item=item.id, channel=channel, lang=lang
                        )
                    )
        if item.status is not None:
            report.problems.extend(_correction_problems(renderer, item, rel, settings))
    return report


def _stale_review_warnings(library: Library) -> list[Problem]:
    warnings = []
    for pending in stale_reviews(library):
        review = pending.stale
        assert review is not None
        warnings.append(
            Problem(
                library.files[pending.item.id],
                f"text changed since {review.by} reviewed it on {review.at.date().isoformat()}; "
                "unreviewed until someone reviews it again (campaign-bot library review)",
                item=pending.item.id,
                lang=pending.lang,
            )
        )
    return warnings


def _correction_problems(
    renderer: Renderer, item: Item, rel: str, settings: Settings
) -> list[Problem]:
    """Render the correction of a corrected or retracted item everywhere it may have gone."""
    problems = []
    for channel in settings.enabled_channels:
        for lang in settings.channel_languages(channel):
            if lang not in item.text:
                continue
            try:
                rendered = renderer.render_correction(item, channel, lang)
            except RenderError as exc:
                problems.append(
                    Problem(rel, f"correction: {exc}", item=item.id, channel=channel, lang=lang)
                )
                continue
            threads = settings.threads_long_posts(channel)
            if not rendered.fits and not threads:
                message = f"correction: {_over_length(rendered)}"
                problems.append(Problem(rel, message, item=item.id, channel=channel, lang=lang))
    return problems


def _over_length(rendered: Rendered) -> str:
    message = (
        f"over length by {rendered.length - rendered.limit} ({rendered.length}/{rendered.limit})"
    )
    explain = RULES[rendered.channel].explain
    note = explain(rendered.text) if explain is not None else None
    return f"{message}; {note}" if note else message


def _publishable(item: Item, languages: list[str], settings: Settings) -> bool:
    return any(item.publishable(lang, settings.publish_unreviewed) for lang in languages)


def _rule_problems(index: int, rule: Rule, settings: Settings, library: Library) -> list[str]:
    where = f"schedule.rules.{index}"
    problems = []
    for item_id in rule.pick.ids:
        if item_id not in library.items:
            message = unknown_message("item", item_id, library.items)
            problems.append(f"{where}.pick.ids: {message}")
    topics = library.topics
    for topic in rule.pick.topics:
        if topic not in topics:
            problems.append(f"{where}.pick.topics: {unknown_message('topic', topic, topics)}")
    languages = list(rule.languages or settings.campaign.languages)
    pick = rule.pick
    matching = library.select(kinds=pick.kinds, topics=pick.topics, ids=pick.ids)
    withdrawn = [item.id for item in matching if item.withdrawn]
    if matching and len(withdrawn) == len(matching):
        problems.append(
            f"{where}.pick: rule {rule.id!r} matches only corrected or retracted items "
            f"({', '.join(withdrawn)}), so it would never post; widen pick or add items"
        )
    elif not any(_publishable(item, languages, settings) for item in matching):
        review = "" if settings.publish_unreviewed else " reviewed"
        problems.append(
            f"{where}.pick: rule {rule.id!r} matches no item with{review} text in "
            f"{', '.join(languages)} ({len(matching)} matching "
            f"{'item' if len(matching) == 1 else 'items'} in all), so it would never post; "
            "widen pick (kinds, topics, ids) or add items"
        )
    return problems


def _schedule_problems(file: str, settings: Settings, library: Library) -> list[Problem]:
    """Find what the schedule names that the library does not have."""
    messages: list[str] = []
    topics = library.topics
    for topic in settings.schedule.topic_weights:
        if topic not in topics:
            message = unknown_message("topic", topic, topics)
            messages.append(f"schedule.topic_weights.{topic}: {message}; no item has it")
    for index, rule in enumerate(settings.schedule.rules):
        if rule.enabled:
            messages.extend(_rule_problems(index, rule, settings, library))
    return [Problem(file, message) for message in messages]


def _signup_link_problems(file: str, settings: Settings, library: Library) -> list[Problem]:
    """Find sign-up link topics the library does not have (they would preselect nothing)."""
    topics = library.topics
    return [
        Problem(
            file,
            f"signup_links.{index}.topics: {unknown_message('topic', topic, topics)}; "
            "no item has it",
        )
        for index, link in enumerate(settings.signup_links)
        for topic in link.topics
        if topic not in topics
    ]
