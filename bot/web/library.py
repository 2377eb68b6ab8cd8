"""Library pages: items by kind, topic, language and review state; each item's renders."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.library import Item
from bot.render.check import CheckReport, check_campaign
from bot.web.context import dashboard_of
from bot.web.templating import page

routes = web.RouteTableDef()


def _matches(item: Item, query: dict[str, str], languages: list[str]) -> bool:
    kind, topic, lang, review = (query.get(k, "") for k in ("kind", "topic", "lang", "review"))
    if kind and item.kind != kind:
        return False
    if topic and topic not in item.topics:
        return False
    langs = [lang] if lang else [code for code in languages if code in item.text]
    if lang and lang not in item.text:
        return False
    if review == "reviewed":
        return all(item.is_reviewed(code) for code in langs)
    if review == "unreviewed":
        return any(not item.is_reviewed(code) for code in langs)
    return True


async def _report(request: web.Request) -> CheckReport:
    """What `campaign-bot check` finds: every render and every problem (run off the loop)."""
    return await asyncio.to_thread(check_campaign, dashboard_of(request).core.loaded)


@routes.get("/library")
async def library(request: web.Request) -> web.Response:
    core = dashboard_of(request).core
    report = await _report(request)
    languages = core.settings.campaign.languages
    query = {k: request.query.get(k, "")[:50] for k in ("kind", "topic", "lang", "review")}
    items = [i for i in core.library.items.values() if _matches(i, query, languages)]
    problems: dict[str, int] = {}
    for problem in report.problems:
        if problem.item:
            problems[problem.item] = problems.get(problem.item, 0) + 1
    warnings: dict[str, int] = {}
    for warning in report.warnings:  # what `check` warns about (a second-hand source, ...)
        if warning.item:
            warnings[warning.item] = warnings.get(warning.item, 0) + 1
    return page(
        request,
        "library.html",
        items=items,
        query=query,
        kinds=sorted({i.kind for i in core.library.items.values()}),
        topics=sorted(core.library.topics),
        languages=languages,
        problems=problems,
        warnings=warnings,
        general=[p for p in report.problems if not p.item],
    )


@routes.get("/library/{item_id}")
async def item_page(request: web.Request) -> web.Response:
    core = dashboard_of(request).core
    item = core.library.items.get(request.match_info["item_id"])
    if item is None:
        return page(request, "problem.html", status=404, error="No such item in the library.")
    report = await _report(request)
    renders = report.renders.get(item.id, [])
    return page(
        request,
        "item.html",
        item=item,
        previews=[{"channel": r.channel, "lang": r.lang, "post": r, "error": ""} for r in renders],
        problems=[p for p in report.problems if p.item == item.id],
        warnings=[w for w in report.warnings if w.item == item.id],
    )
