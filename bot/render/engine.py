"""Render library items into posts per channel and language in a sandboxed Jinja2 environment."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from bot.channels import Link
from bot.config import RTL_LANGUAGES, Settings
from bot.library import Item, Library
from bot.render.bidi import isolate, isolate_runs, strip_isolates
from bot.render.limits import RULES


class RenderError(Exception):
    """A template could not render an item: syntax error, unknown variable, missing citation."""


@dataclass(frozen=True)
class Rendered:
    """A post ready for one channel, with its measured length and whether it may be published."""

    item_id: str
    channel: str
    lang: str
    text: str
    length: int
    limit: int
    reviewed: bool
    links: tuple[Link, ...] = ()
    content_warning: str | None = None

    @property
    def fits(self) -> bool:
        return self.length <= self.limit


@dataclass
class _LinkMaker:
    """Formats links for one channel and remembers the ones whose display differs from the URL."""

    channel: str
    rtl: bool
    made: list[Link] = field(default_factory=list)

    def __call__(self, url: Any, label: Any = None) -> str | Markup:
        url = str(url)
        if self.channel == "telegram":
            return Markup('<a href="{}">{}</a>').format(url, label or url)
        if self.channel == "bluesky":
            # Bluesky counts the URL in full; show the host and link it with a facet instead.
            parts = urlsplit(url)
            shown = parts.netloc.removeprefix("www.") + ("/…" if parts.path.strip("/") else "")
            self.made.append(Link(display=shown, url=url))
        else:
            shown = url
        shown = isolate(shown) if self.rtl else shown
        return f"{label} {shown}" if label else shown


def _labels(root: Path) -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {}
    for path in sorted((root / "locales").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        labels[path.stem] = {str(k): str(v) for k, v in data.items()}
    return labels


# Channels with a content-warning field of their own (Mastodon's spoiler text; the console
# shows it in brackets); elsewhere the warning becomes the post's first line.
NATIVE_WARNING = frozenset({"mastodon", "console"})
# Channels whose limit covers the content warning as well as the text (Mastodon counts both).
WARNING_COUNTS = frozenset({"mastodon"})


class Renderer:
    """Renders items through ``messages/templates`` for each channel and language."""

    def __init__(self, library: Library, settings: Settings) -> None:
        self.library = library
        self.settings = settings
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(library.root / "templates"),
            undefined=StrictUndefined,
            autoescape=lambda name: bool(name and name.startswith("telegram/")),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.labels = _labels(library.root)
        # Limits learnt from the servers at start (a Mastodon instance's max_characters);
        # a ``max_characters`` in config wins over them.
        self.server_limits: dict[str, int] = {}

    def template_name(self, channel: str, kind: str) -> str:
        return f"{channel}/{kind}.j2"

    def render(self, item: Item, channel: str, lang: str) -> Rendered:
        """Render one item for one channel and language, or raise RenderError.

        A post over its channel's limit is rendered again without its hashtags, the first
        thing to go; if it still does not fit, ``fits`` is false and ``check`` reports it.
        """
        if lang not in item.text:
            raise RenderError(f"missing translation: no {lang!r} text")
        rendered = self._render(item, channel, lang, with_hashtags=True)
        if not rendered.fits:
            shorter = self._render(item, channel, lang, with_hashtags=False)
            if shorter.length < rendered.length:
                return shorter
        return rendered

    def render_correction(self, item: Item, channel: str, lang: str) -> Rendered:
        """Render the correction or retraction of a corrected or retracted item, or raise."""
        if item.status is None:
            raise RenderError(f"{item.id} is neither corrected nor retracted")
        if lang not in item.text:
            raise RenderError(f"missing translation: no {lang!r} text")
        return self._render(item, channel, lang, with_hashtags=False, template="correction")

    def _render(
        self,
        item: Item,
        channel: str,
        lang: str,
        *,
        with_hashtags: bool,
        template: str | None = None,
    ) -> Rendered:
        rtl = lang in RTL_LANGUAGES
        links = _LinkMaker(channel, rtl)
        context = self._context(item, channel, lang, links)
        if not with_hashtags:
            context["item"]["hashtags"] = []
        if template == "correction" and item.status is not None:
            context["correction"] = _correction_context(item, lang)
        name = self.template_name(channel, template or item.kind)
        try:
            text = self.env.get_template(name).render(context).strip()
        except TemplateNotFound:
            raise RenderError(f"template {name} not found") from None
        except TemplateSyntaxError as exc:
            raise RenderError(
                f"template syntax error in {exc.name or name} line {exc.lineno}: {exc.message}"
            ) from None
        except UndefinedError as exc:
            raise RenderError(f"unknown variable in {name}: {exc.message}") from None
        except TemplateError as exc:
            raise RenderError(f"template error in {name}: {exc}") from None
        if template is None or (item.status is not None and item.status.text):
            self._require_citation(item, channel, text, links.made, name)
        rule = RULES[channel]
        override = self.settings.channels.get(channel)
        limit = (
            override.max_characters
            if override and override.max_characters
            else self.server_limits.get(channel, rule.limit)
        )
        warning = item.content_warning.get(lang) if item.content_warning else None
        if warning and channel not in NATIVE_WARNING:
            # No content-warning field on this network: the warning opens the post.
            shown = html.escape(warning, quote=False) if channel == "telegram" else warning
            text = f"⚠️ {shown}\n\n{text}"
            warning = None
        length = rule.measure(text)
        if warning and channel in WARNING_COUNTS:
            length += rule.measure(warning)
        return Rendered(
            item_id=item.id,
            channel=channel,
            lang=lang,
            text=text,
            length=length,
            limit=limit,
            reviewed=item.is_reviewed(lang),
            links=tuple(links.made),
            content_warning=warning,
        )

    def _context(
        self, item: Item, channel: str, lang: str, links: Callable[..., Any]
    ) -> dict[str, Any]:
        rtl = lang in RTL_LANGUAGES
        default = self.settings.campaign.default_language
        ltr: Callable[[str], str] = isolate if rtl else str

        tags = [*item.hashtags, *self.settings.campaign.hashtags]
        hashtags = [ltr(f"#{tag}") for tag in dict.fromkeys(tags)]
        targets = []
        for target_id in item.targets:
            target = self.library.targets[target_id]
            handle = target.handles.get(channel)  # type: ignore[call-overload]
            targets.append(
                {
                    "name": target.name_in(lang, default),
                    "handle": ltr(handle) if handle else None,
                    "hashtag": ltr(f"#{target.hashtag}"),
                }
            )
        source = None
        if (cited := item.current_source) is not None:
            source = {
                "publisher": ltr(cited.credit),
                "title": ltr(cited.title),
                "url": cited.link,
                "date": ltr(cited.display_date(lang)),
            }
        labels = {**self.labels.get(default, {}), **self.labels.get(lang, {})}
        body = item.current_text(lang)
        return {
            "item": {
                "id": item.id,
                "kind": item.kind,
                "text": isolate_runs(body) if rtl else body,
                "hashtags": hashtags,
                "targets": targets,
                "source": source,
                "link": str(item.link) if item.link else None,
                "topics": list(item.topics),
            },
            "t": labels,
            "lang": lang,
            "rtl": rtl,
            "channel": channel,
            "campaign": {"name": self.settings.campaign.name},
            "link": links,
        }

    def _require_citation(
        self, item: Item, channel: str, text: str, made: list[Link], name: str
    ) -> None:
        source = item.current_source
        if source is None:
            return
        url = source.link
        shown = strip_isolates(html.unescape(text) if channel == "telegram" else text)
        has_url = url in shown or any(link.url == url for link in made)
        if not has_url or source.credit not in shown:
            raise RenderError(
                f"template {name} dropped the citation "
                "(the source's publisher and URL must appear in every post of a sourced item)"
            )


def _correction_context(item: Item, lang: str) -> dict[str, Any]:
    """What a correction template may use besides ``item``: the state, its date and wording."""
    assert item.status is not None
    status = item.status
    rtl = lang in RTL_LANGUAGES
    wording = status.wording[lang]
    day = status.date
    shown = f"{day.day} {day:%b %Y}" if lang == "en" else day.isoformat()
    return {
        "state": status.state,
        "text": isolate_runs(wording) if rtl else wording,
        "date": isolate(shown) if rtl else shown,
    }
