"""The fake Bot API's inline mode and deep links: inline queries, answers, chosen results."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.telegram_api import Call, FakeBotAPI

Params = dict[str, Any]
MAX_RESULTS = 50
_START_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@dataclass
class InlineAnswer:
    """What the bot answered to one inline query, as Telegram received it."""

    query_id: str
    query: str
    results: list[Params]
    cache_time: int | None
    is_personal: bool
    button: Params | None

    @property
    def titles(self) -> list[str]:
        return [str(r["title"]) for r in self.results]

    @property
    def texts(self) -> list[str]:
        """The message each result would send (its HTML as given)."""
        return [str(r["input_message_content"]["message_text"]) for r in self.results]


class InlineMode:
    """Pushes inline queries, chosen results and deep-link /starts; checks and records answers.

    ``feedback`` is BotFather's inline feedback setting: without it Telegram sends no
    chosen_inline_result updates (``push_chosen`` then returns None).
    """

    def __init__(self, fake: FakeBotAPI, *, feedback: bool = True) -> None:
        self.fake = fake
        self.feedback = feedback
        self.answers: list[InlineAnswer] = []
        self._queries: dict[str, str] = {}  # unanswered query id -> query text
        self._ids = 0

    def push_start(
        self, chat_id: int, payload: str, *, user_id: int | None = None, language_code: str = "en"
    ) -> Params:
        """A user opens t.me/<bot>?start=<payload>: Telegram sends ``/start <payload>``."""
        return self.fake.push_text(
            chat_id, user_id or chat_id, f"/start {payload}", language_code=language_code
        )

    def push_query(
        self, user_id: int, query: str, *, language_code: str = "en", chat_type: str = "private"
    ) -> str:
        """A user types ``@bot <query>`` in a chat of ``chat_type``; return the query id."""
        self._ids += 1
        query_id = f"iq{self._ids}"
        self._queries[query_id] = query
        self.fake.push_raw(
            {
                "inline_query": {
                    "id": query_id,
                    "from": self.fake.user_object(user_id, language_code),
                    "query": query,
                    "offset": "",
                    "chat_type": chat_type,
                }
            }
        )
        return query_id

    def push_chosen(
        self, user_id: int, result_id: str, query: str = "", *, language_code: str = "en"
    ) -> Params | None:
        """The user sent result ``result_id`` (only with inline feedback on, as on Telegram)."""
        if not self.feedback:
            return None
        chosen = {
            "result_id": result_id,
            "from": self.fake.user_object(user_id, language_code),
            "query": query,
        }
        return self.fake.push_raw({"chosen_inline_result": chosen})

    def answer_for(self, query_id: str) -> InlineAnswer | None:
        return next((a for a in self.answers if a.query_id == query_id), None)

    async def answer_inline_query(self, params: Params, call: Call) -> Any:
        """answerInlineQuery: the checks Telegram makes, then the answer is recorded."""
        from tests.fakes.telegram_api import ApiError, _parse_text

        query_id = str(params.get("inline_query_id", ""))
        if query_id not in self._queries:
            raise ApiError(400, _TOO_OLD)
        results = _loaded(params.get("results"))
        if not isinstance(results, list):
            raise ApiError(400, "Bad Request: results must be an array")
        if len(results) > MAX_RESULTS:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            result_id = str(result.get("id", ""))
            if not 1 <= len(result_id.encode()) <= 64:
                raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
            if result_id in seen:
                raise ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
            seen.add(result_id)
            if result.get("type") != "article" or not result.get("title"):
                raise ApiError(400, "Bad Request: RESULT_TITLE_EMPTY")
            content = result.get("input_message_content") or {}
            _parse_text(str(content.get("message_text", "")), content.get("parse_mode"))
        button = _loaded(params.get("button"))
        if button is not None:
            parameter = str(button.get("start_parameter", ""))
            if not button.get("text") or not _START_PARAMETER.match(parameter):
                raise ApiError(400, "Bad Request: START_PARAM_INVALID")
        cache = params.get("cache_time")
        self.answers.append(
            InlineAnswer(
                query_id,
                self._queries.pop(query_id),
                results,
                int(cache) if cache is not None else None,
                str(params.get("is_personal", "")).lower() == "true"
                or params.get("is_personal") is True,
                button,
            )
        )
        return True

    async def wait_for_answer(
        self,
        query_id: str,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline per wait reads best in tests
    ) -> InlineAnswer:
        """Wait until the bot answered the query (or failed the test)."""
        await self.fake.wait_for(lambda: self.answer_for(query_id) is not None, timeout)
        answer = self.answer_for(query_id)
        assert answer is not None
        return answer


def _loaded(value: object) -> Any:
    """A JSON-serialized parameter (form posts) or the value as sent (JSON bodies)."""
    return json.loads(value) if isinstance(value, str) else value
