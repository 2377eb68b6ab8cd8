"""Rendering: sandboxed, escaped, cited, right-to-left safe, measured per channel."""

from __future__ import annotations

import pytest

from bot.config import load_config
from bot.library import load_library
from bot.render import Renderer, RenderError, strip_isolates
from bot.render.bidi import FSI, PDI, isolate_runs
from tests.campaign_factory import Campaign, finding


def _renderer(campaign: Campaign) -> Renderer:
    loaded = load_config(campaign.config_path)
    library, problems = load_library(loaded.library_dir)
    assert problems == []
    return Renderer(library, loaded.settings)


def test_template_code_in_content_renders_literally(campaign: Campaign) -> None:
    text = "At least {{ 7*7 }} {% for x in range(3) %}x{% endfor %} <script>alert(1)</script>"
    campaign.write_items("items.yaml", [finding(text={"en": text}, reviewed=["en"])])
    renderer = _renderer(campaign)
    item = renderer.library.get("f-attacks")
    assert "{{ 7*7 }}" in renderer.render(item, "x", "en").text
    assert "49" not in renderer.render(item, "x", "en").text
    telegram = renderer.render(item, "telegram", "en").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in telegram
    assert "<script>" not in telegram


def test_every_channel_carries_the_citation(campaign: Campaign) -> None:
    renderer = _renderer(campaign)
    item = renderer.library.get("f-attacks")
    url = "https://www.amnesty.org.nz/any-cost-civilian-catastrophe-west-mosul-iraq"
    for channel in ("telegram", "x", "mastodon", "console"):
        assert url in renderer.render(item, channel, "en").text, channel
    bluesky = renderer.render(item, "bluesky", "en")
    assert [link.url for link in bluesky.links] == [url]
    assert bluesky.links[0].display == "amnesty.org.nz/…"
    assert "amnesty.org.nz/…" in bluesky.text


def test_template_that_drops_the_citation_is_an_error(campaign: Campaign) -> None:
    campaign.write_raw("templates/x/finding.j2", "{{ item.text }}\n")
    renderer = _renderer(campaign)
    with pytest.raises(RenderError, match="dropped the citation"):
        renderer.render(renderer.library.get("f-attacks"), "x", "en")


def test_unknown_variable_is_an_error(campaign: Campaign) -> None:
    campaign.write_raw("templates/x/finding.j2", "{{ item.txt }}\n")
    renderer = _renderer(campaign)
    with pytest.raises(RenderError, match=r"unknown variable in x/finding\.j2"):
        renderer.render(renderer.library.get("f-attacks"), "x", "en")


def test_sandbox_blocks_unsafe_attribute_access(campaign: Campaign) -> None:
    campaign.write_raw("templates/x/finding.j2", "{{ link.__class__.__mro__ }}\n")
    renderer = _renderer(campaign)
    with pytest.raises(RenderError):
        renderer.render(renderer.library.get("f-attacks"), "x", "en")


def test_rtl_posts_isolate_numbers_urls_and_hashtags(campaign: Campaign) -> None:
    renderer = _renderer(campaign)
    post = renderer.render(renderer.library.get("f-attacks"), "x", "ar")
    assert f"{FSI}45{PDI}" in post.text
    assert f"{FSI}426{PDI}" in post.text
    assert f"{FSI}https://www.amnesty.org.nz/" in post.text
    assert f"{FSI}#Mosul{PDI}" in post.text
    assert f"{FSI}2017-07-11{PDI}" in post.text
    english = renderer.render(renderer.library.get("f-attacks"), "x", "en")
    assert FSI not in english.text


def test_isolate_runs_keeps_urls_whole() -> None:
    text = "انظر https://example.org/a/1?x=2 و 3,706 مدنيًا #Mosul @amnesty"
    wrapped = isolate_runs(text)
    assert f"{FSI}https://example.org/a/1?x=2{PDI}" in wrapped
    assert f"{FSI}3,706{PDI}" in wrapped
    assert f"{FSI}@amnesty{PDI}" in wrapped
    assert strip_isolates(wrapped) == text


def test_unreviewed_translation_is_flagged(campaign: Campaign) -> None:
    renderer = _renderer(campaign)
    item = renderer.library.get("f-attacks")
    assert renderer.render(item, "x", "en").reviewed
    assert not renderer.render(item, "x", "ar").reviewed


def test_missing_translation(campaign: Campaign) -> None:
    campaign.write_items("items.yaml", [finding(text={"en": "Only English."})])
    renderer = _renderer(campaign)
    with pytest.raises(RenderError, match="missing translation"):
        renderer.render(renderer.library.get("f-attacks"), "x", "ar")


def test_length_is_measured_after_rendering(campaign: Campaign) -> None:
    campaign.write_items("items.yaml", [finding(text={"en": "word " * 60})])
    renderer = _renderer(campaign)
    post = renderer.render(renderer.library.get("f-attacks"), "x", "en")
    assert post.limit == 280
    assert post.length > 280 and not post.fits
    assert renderer.render(renderer.library.get("f-attacks"), "mastodon", "en").fits


def test_mastodon_counts_the_content_warning_toward_its_limit(campaign: Campaign) -> None:
    warning = "Graphic description of civilian deaths"
    campaign.write_items("items.yaml", [finding(reviewed=["en"], content_warning={"en": warning})])
    renderer = _renderer(campaign)
    item = renderer.library.get("f-attacks")
    mastodon = renderer.render(item, "mastodon", "en")
    assert mastodon.content_warning == warning
    rule_length = renderer.render(item, "console", "en")  # the console ignores warnings
    assert mastodon.length == len(mastodon.text) + len(warning) - _url_savings(mastodon.text)
    assert rule_length.length == len(rule_length.text)


def _url_savings(text: str) -> int:
    """Characters Mastodon does not count: each URL counts 23 whatever its length."""
    import re

    return sum(len(url) - 23 for url in re.findall(r"https://\S+", text))


def test_a_server_limit_replaces_the_default_unless_config_sets_one(campaign: Campaign) -> None:
    renderer = _renderer(campaign)
    item = renderer.library.get("f-attacks")
    assert renderer.render(item, "mastodon", "en").limit == 500
    renderer.server_limits["mastodon"] = 11_000
    assert renderer.render(item, "mastodon", "en").limit == 11_000
    data = campaign.config()
    data["channels"]["mastodon"]["max_characters"] = 600
    campaign.write_config(data)
    assert _renderer(campaign).render(item, "mastodon", "en").limit == 600


def test_networks_without_a_warning_field_open_the_post_with_it(campaign: Campaign) -> None:
    warning = "Killings & bodies on display"
    campaign.write_items("items.yaml", [finding(reviewed=["en"], content_warning={"en": warning})])
    renderer = _renderer(campaign)
    item = renderer.library.get("f-attacks")
    for channel in ("x", "bluesky"):
        post = renderer.render(item, channel, "en")
        assert post.text.startswith(f"⚠️ {warning}\n\n"), channel
        assert post.content_warning is None
    telegram = renderer.render(item, "telegram", "en")
    assert telegram.text.startswith("⚠️ Killings &amp; bodies on display\n\n")
    mastodon = renderer.render(item, "mastodon", "en")
    assert warning not in mastodon.text and mastodon.content_warning == warning


def test_hashtags_go_first_when_a_post_is_too_long(campaign: Campaign) -> None:
    renderer = _renderer(campaign)
    item = renderer.library.get("f-attacks")
    full = renderer.render(item, "x", "en")
    assert full.fits and "#" in full.text
    data = campaign.config()
    data["channels"]["x"]["max_characters"] = full.length - 1
    campaign.write_config(data)
    tight = _renderer(campaign).render(item, "x", "en")
    assert tight.fits and "#" not in tight.text
    assert tight.text.split("\n\n")[0] == full.text.split("\n\n")[0]  # the finding stays whole


def test_arabic_and_kurdish_citations_use_the_arabic_comma(campaign: Campaign) -> None:
    campaign.write_items(
        "items.yaml",
        [finding(text={"en": "At least 426 civilians were killed.", "ar": "قُتل 426 مدنيًا."})],
    )
    renderer = _renderer(campaign)
    item = renderer.library.get("f-attacks")
    arabic = renderer.render(item, "x", "ar").text
    assert "Amnesty International\u2069\u060c \u2068" in arabic  # "، " between isolates
    assert "Amnesty International, " in renderer.render(item, "x", "en").text
