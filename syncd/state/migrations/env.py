"""Alembic environment for the state database.

``StateDB.migrate`` passes an open connection in ``config.attributes["connection"]``; a
developer generating a new revision passes ``sqlalchemy.url`` instead, e.g.::

    from alembic import command
    from syncd.state.db import StateDB
    command.revision(StateDB("sqlite:///dev.sqlite").alembic_config(),
                     message="add x", autogenerate=True)

SQLite cannot ALTER most things, so revisions are rendered as batch operations there.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlmodel import SQLModel

import syncd.state.owners
import syncd.state.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                          render_as_batch=bool(url and url.startswith("sqlite")))
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(str(url))
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


main()
