"""GET /metrics: Prometheus text, counted from the database and the running fan-out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from bot.schedule.outlook import next_post_at
from bot.store.dashboard import deliveries_by_channel, queue_depth
from bot.store.subscribers import count_active
from bot.web.context import Dashboard

routes = web.RouteTableDef()
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


class CampaignCollector(Collector):
    """Reads the numbers at scrape time, so every replica reports the shared database."""

    def __init__(self, board: Dashboard) -> None:
        self.board = board

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        core = self.board.core
        store = core.store
        up = GaugeMetricFamily("campaign_database_up", "1 if the database answered the scrape")
        try:
            by_channel = deliveries_by_channel(store)
            depth = queue_depth(store)
            active = count_active(store)
            now = core.clock.now()
            due = next_post_at(core.settings, core.library, store, core.clock)
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        deliveries = GaugeMetricFamily(
            "campaign_deliveries",
            "Channel deliveries by channel and status",
            labels=["channel", "status"],
        )
        for (channel, status), n in sorted(by_channel.items()):
            deliveries.add_metric([channel, status], n)
        yield deliveries
        queue = GaugeMetricFamily("campaign_queue_depth", "Work waiting", labels=["kind"])
        for kind, n in depth.items():
            queue.add_metric([kind], n)
        yield queue
        yield GaugeMetricFamily(
            "campaign_subscribers_active", "Supporters subscribed now", value=active
        )
        until = GaugeMetricFamily(
            "campaign_seconds_until_next_post", "Seconds until the next scheduled post"
        )
        if due is not None:
            until.add_metric([], max(0.0, (due - now).total_seconds()))
        yield until
        fanout = self.board.fanout()
        if fanout is not None:
            yield CounterMetricFamily(
                "campaign_fanout_sent", "Private messages sent by this process", value=fanout.sent
            )
            yield CounterMetricFamily(
                "campaign_fanout_rate_limited",
                "429 answers (flood control) the fan-out got in this process",
                value=fanout.rate_limited,
            )


def install(app: web.Application, board: Dashboard) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CampaignCollector(board))
    app[_REGISTRY] = registry


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    registry = request.app[_REGISTRY]
    body = await asyncio.to_thread(generate_latest, registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


__all__ = ["CampaignCollector", "install", "routes"]
