"""Alembic environment: run migrations on the engine the application passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from bot.store.models import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through `campaign-bot db upgrade`")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
