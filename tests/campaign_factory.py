"""Build small throwaway campaigns (config + library) for tests."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.library.reviews import REVIEWS_FILE, hash_text

REVIEWER = "Test Reviewer"
REVIEWED_AT = "2026-01-01T00:00:00+00:00"

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CONFIG = ROOT / "config" / "campaign.yaml"
SHIPPED_MESSAGES = ROOT / "messages"

SOURCE = {
    "publisher": "Amnesty International",
    "title": "At any cost: The civilian catastrophe in West Mosul, Iraq",
    "url": "https://www.amnesty.org.nz/any-cost-civilian-catastrophe-west-mosul-iraq",
    "date": "2017-07-11",
}


def finding(item_id: str = "f-attacks", **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id,
        "kind": "finding",
        "topics": ["weapons"],
        "confidence": "corrected",
        "source": dict(SOURCE),
        "text": {
            "en": "Amnesty documented 45 attacks that killed at least 426 civilians.",
            "ar": "وثّقت منظمة العفو الدولية 45 هجومًا قتل ما لا يقل عن 426 مدنيًا.",
            "ckb": "ڕێکخراوی لێبوردنی نێودەوڵەتی 45 هێرشی تۆمار کرد کە لانیکەم 426 مەدەنی کوشت.",
        },
        "reviewed": ["en"],
    }
    item.update(overrides)
    return item


def demand(item_id: str = "d-acknowledge", **overrides: Any) -> dict[str, Any]:
    item = finding(item_id, kind="demand", topics=["acknowledge"], targets=["iraq-government"])
    del item["confidence"]
    item["text"] = {
        "en": "Publicly acknowledge the civilian toll in Mosul.",
        "ar": "اعترفوا علنًا بحصيلة الضحايا المدنيين في الموصل.",
        "ckb": "بە ئاشکرا دان بە ژمارەی قوربانیانی مەدەنی لە موسڵ بنێن.",
    }
    item.update(overrides)
    return item


def action(item_id: str = "a-share", **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id,
        "kind": "action",
        "topics": ["acknowledge"],
        "text": {
            "en": "Share the findings with your representative.",
            "ar": "شارك النتائج مع ممثلك.",
            "ckb": "دۆزینەوەکان لەگەڵ نوێنەرەکەت هاوبەش بکە.",
        },
        "reviewed": ["en"],
        "link": "https://www.amnesty.org.au/report-cost-civilian-catastrophe-west-mosul-iraq/",
    }
    item.update(overrides)
    return item


TARGETS = [{"id": "iraq-government", "name": {"en": "Government of Iraq"}, "hashtag": "Iraq"}]


@dataclass
class Campaign:
    """A campaign in a temporary folder: ``config/campaign.yaml`` and ``messages/``."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "config" / "campaign.yaml"

    @property
    def messages(self) -> Path:
        return self.root / "messages"

    def config(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        return data

    def write_config(self, data: dict[str, Any]) -> None:
        self.config_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    def write_items(self, name: str, items: list[dict[str, Any]]) -> Path:
        """Write an items file; an item's ``reviewed: [langs]`` becomes review records of its
        current text in ``reviews.yaml`` (replacing earlier records of those items)."""
        plain, records = [], []
        for item in items:
            item = dict(item)
            languages = item.pop("reviewed", [])
            plain.append(item)
            records.extend(review_records(item, languages))
        written = {item.get("id") for item in plain}
        kept = [r for r in self.reviews() if r.get("item") not in written]
        self.write_reviews([*kept, *records])
        path = self.messages / name
        path.write_text(yaml.safe_dump({"items": plain}, allow_unicode=True), encoding="utf-8")
        return path

    def review(self, item: dict[str, Any], languages: list[str]) -> None:
        """Add records that a person reviewed ``item`` (as written) in ``languages``."""
        self.write_reviews([*self.reviews(), *review_records(item, languages)])

    def reviews(self) -> list[dict[str, Any]]:
        path = self.messages / REVIEWS_FILE
        if not path.exists():
            return []
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return list(data.get("reviews") or [])

    def write_reviews(self, records: list[dict[str, Any]]) -> None:
        path = self.messages / REVIEWS_FILE
        path.write_text(yaml.safe_dump({"reviews": records}, allow_unicode=True), encoding="utf-8")

    def write_raw(self, relative: str, text: str) -> Path:
        path = self.messages / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path


def review_records(item: dict[str, Any], languages: list[str]) -> list[dict[str, Any]]:
    """Review records of an item's current wording: its text, or its status's once it has one
    (the corrected text or the retraction's reason)."""
    status = item.get("status") or {}
    text = status.get("text") or status.get("reason") or item.get("text") or {}
    warnings = item.get("content_warning") or {}
    return [
        {
            "item": item.get("id"),
            "lang": lang,
            "hash": hash_text(text[lang], warnings.get(lang)),
            "by": REVIEWER,
            "at": REVIEWED_AT,
        }
        for lang in languages
        if lang in text
    ]


def make_campaign(root: Path, items: list[dict[str, Any]] | None = None) -> Campaign:
    """Create a campaign with the shipped config and templates and a few small items."""
    campaign = Campaign(root)
    (root / "config").mkdir(parents=True)
    shutil.copy(SHIPPED_CONFIG, campaign.config_path)
    campaign.messages.mkdir()
    shutil.copytree(SHIPPED_MESSAGES / "templates", campaign.messages / "templates")
    shutil.copytree(SHIPPED_MESSAGES / "locales", campaign.messages / "locales")
    shutil.copy(SHIPPED_MESSAGES / "publishers.yaml", campaign.messages / "publishers.yaml")
    (campaign.messages / "targets.yaml").write_text(
        yaml.safe_dump({"targets": TARGETS}, allow_unicode=True), encoding="utf-8"
    )
    campaign.write_items(
        "items.yaml", items if items is not None else [finding(), demand(), action()]
    )
    return campaign
