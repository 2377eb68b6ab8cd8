"""Render every item for every enabled channel and language, and collect what is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.config import LoadedConfig
from bot.library import Library, Problem, load_library
from bot.render.engine import Rendered, Renderer, RenderError
from bot.render.limits import RULES


@dataclass
class CheckReport:
    """Every render and every problem of one campaign."""

    library: Library
    renders: dict[str, list[Rendered]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

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
                    "source": None
                    if source is None
                    else {
                        "publisher": source.publisher,
                        "title": source.title,
                        "url": source.link,
                        "date": source.date,
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
        errors = [
            {
                "file": p.file,
                "item": p.item,
                "channel": p.channel,
                "lang": p.lang,
                "message": p.message,
            }
            for p in self.problems
        ]
        return {"items": items, "errors": errors}


def check_campaign(loaded: LoadedConfig) -> CheckReport:
    """Load the library and render every item everywhere it may be published."""
    library, problems = load_library(loaded.library_dir)
    report = CheckReport(library=library, problems=list(problems))
    settings = loaded.settings
    renderer = Renderer(library, settings)
    for item in library.items.values():
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
                threads = channel == "x" and settings.channels[channel].threads
                if not rendered.fits and not threads:
                    report.problems.append(
                        Problem(
                            rel, _over_length(rendered), item=item.id, channel=channel, lang=lang
                        )
                    )
    return report


def _over_length(rendered: Rendered) -> str:
    message = (
        f"over length by {rendered.length - rendered.limit} ({rendered.length}/{rendered.limit})"
    )
    explain = RULES[rendered.channel].explain
    note = explain(rendered.text) if explain is not None else None
    return f"{message}; {note}" if note else message
