"""Turn rule firings into posts: which item, which languages, and what happens to missed ones."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.accounts import accounts_for, split_target
from bot.clock import Clock
from bot.config import Rule, Settings, parse_duration
from bot.library import Item, Library
from bot.schedule.rotation import History, pick_item
from bot.schedule.triggers import fire_times
from bot.store import PostStatus, Store
from bot.store.posts import create_post, delivery_history, rule_states, save_rule_state

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Occurrence:
    """One firing of a rule in one language, with the item rotation chose."""

    rule_id: str
    fire_at: datetime
    lang: str
    channels: tuple[str, ...]
    item_id: str | None
    skip_reason: str | None = None

    @property
    def key(self) -> str:
        return f"{self.rule_id}@{self.fire_at.isoformat()}#{self.lang}"


class Planner:
    """Plans rule firings from the configuration, the library and the delivery history."""

    def __init__(self, settings: Settings, library: Library, store: Store, clock: Clock) -> None:
        self.settings = settings
        self.library = library
        self.store = store
        self.clock = clock
        self.window = parse_duration(settings.schedule.rotation_window)
        self.grace = parse_duration(settings.schedule.misfire_grace)

    def publishable(self, item: Item, lang: str) -> bool:
        return item.publishable(lang, self.settings.publish_unreviewed)

    def _candidates(self, rule: Rule, languages: list[str], at: datetime) -> list[Item]:
        pick = rule.pick
        items = self.library.select(kinds=pick.kinds, topics=pick.topics, ids=pick.ids)
        return [
            item
            for item in items
            if (item.ends is None or item.ends >= at.date())
            and any(self.publishable(item, lang) for lang in languages)
        ]

    def occurrences(
        self, rule: Rule, after: datetime, until: datetime, history: History, fired: int = 0
    ) -> list[Occurrence]:
        """Plan the firings of ``rule`` in ``(after, until]``; record picks in ``history``."""
        languages = list(rule.languages or self.settings.campaign.languages)
        planned: list[Occurrence] = []
        for fire in fire_times(rule, self.settings.campaign.time_zone, after, until):
            if rule.max_count is not None and fired >= rule.max_count:
                break
            fired += 1
            key = f"{rule.id}@{fire.isoformat()}"
            # Rotation is per network: an item on x:kurdish counts as used on x.
            networks = list(dict.fromkeys(split_target(c)[0] for c in rule.channels))
            item = pick_item(
                self._candidates(rule, languages, fire),
                networks,
                history,
                key=key,
                at=fire,
                window=self.window,
                weights=self.settings.schedule.topic_weights,
            )
            if item is not None:
                for channel in networks:
                    history[(item.id, channel)] = fire
            for lang in languages:
                reason = None
                if not accounts_for(self.settings, rule.channels, lang):
                    reason = f"no account of {', '.join(rule.channels)} carries {lang}"
                elif item is None:
                    reason = "no library item matches this rule with publishable text"
                elif lang not in item.text:
                    reason = f"{item.id} has no {lang} text"
                elif not self.publishable(item, lang):
                    reason = f"the {lang} text of {item.id} is not reviewed yet"
                planned.append(
                    Occurrence(
                        rule.id,
                        fire,
                        lang,
                        tuple(rule.channels),
                        item.id if item else None,
                        reason,
                    )
                )
        return planned

    def history(self, now: datetime) -> History:
        history: History = {}
        for item_id, target, due in delivery_history(self.store, now - self.window):
            channel = split_target(target)[0]
            if history.get((item_id, channel), due) <= due:
                history[(item_id, channel)] = due
        return history

    def materialize(self) -> int:
        """Write posts for every firing up to now; return how many were written."""
        now = self.clock.now()
        states = rule_states(self.store)
        history = self.history(now)
        written = 0
        for rule in self.settings.schedule.rules:
            if not rule.enabled:
                continue
            state = states.get(rule.id)
            if state is None:  # a new rule starts now; it does not replay the past
                with self.store.sessions.begin() as session:
                    save_rule_state(session, rule.id, now, 0)
                continue
            planned = self.occurrences(rule, state.cursor, now, history, state.fired)
            for occurrence in planned:
                written += self._write(occurrence, now)
            fired = state.fired + len({o.fire_at for o in planned})
            with self.store.sessions.begin() as session:
                save_rule_state(session, rule.id, now, fired)
        return written

    def _write(self, occurrence: Occurrence, now: datetime) -> int:
        status, reason = PostStatus.SCHEDULED, occurrence.skip_reason
        if reason is not None:
            status = PostStatus.SKIPPED
        elif now - occurrence.fire_at > self.grace:
            status = PostStatus.MISSED
            reason = f"the bot was not running at {occurrence.fire_at:%Y-%m-%d %H:%M} UTC"
        post = create_post(
            self.store,
            item_id=occurrence.item_id or "-",
            lang=occurrence.lang,
            channels=occurrence.channels,
            due_at=occurrence.fire_at,
            created_by=f"rule:{occurrence.rule_id}",
            via="worker",
            rule_id=occurrence.rule_id,
            occurrence_key=occurrence.key,
            needs_approval=False,
            status=status,
            reason=reason,
        )
        if post is not None and status is not PostStatus.SCHEDULED:
            log.warning(
                "rule %s at %s (%s): %s",
                occurrence.rule_id,
                occurrence.fire_at,
                occurrence.lang,
                reason,
            )
        return 0 if post is None else 1

    def upcoming(self, days: float) -> list[Occurrence]:
        """Plan every rule's firings for the next ``days`` without writing anything."""
        now = self.clock.now()
        history = self.history(now)
        states = rule_states(self.store)
        planned: list[Occurrence] = []
        for rule in self.settings.schedule.rules:
            if rule.enabled:
                state = states.get(rule.id)
                after = max(now, state.cursor) if state else now
                fired = state.fired if state else 0
                planned += self.occurrences(
                    rule, after, now + timedelta(days=days), history, fired
                )
        return sorted(planned, key=lambda o: (o.fire_at, o.rule_id, o.lang))
