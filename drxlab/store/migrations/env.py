"""Alembic environment of the experiment store.

drxlab runs this itself (:func:`drxlab.store.db.open_store` builds the Alembic config in code;
no ``alembic.ini``). The caller passes an open connection, already inside a write transaction,
as ``config.attributes["connection"]``: the migrations join that transaction and the caller
commits or rolls back all of them at once.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from drxlab.store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, render_as_batch=True, transactional_ddl=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    """Online migrations on the caller's connection, or on ``sqlalchemy.url`` (developer use)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=target_metadata,
            literal_binds=True,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    from drxlab.store.db import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.execution_options(drxlab_begin="IMMEDIATE").begin() as conn:
        _run(conn)
    engine.dispose()


run_migrations()
