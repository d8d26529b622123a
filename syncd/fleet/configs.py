"""A worker's configs: one TOML file, or a directory with one TOML file per merchant."""

from __future__ import annotations

from pathlib import Path

from syncd.config import Config, load_config
from syncd.errors import ConfigError
from syncd.state.db import StateDB


def config_files(path: Path) -> list[Path]:
    """``path`` itself, or the ``*.toml`` files in the directory ``path``, by name."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.glob("*.toml") if p.is_file())
    if not files:
        raise ConfigError(f"no *.toml config files in the directory {path}", key="--config")
    return files


def load_configs(path: Path) -> list[Config]:
    """Every config under ``path``; ``ConfigError`` naming the file and key on any problem.

    Store names must be unique across the files (the state tables are keyed by store
    name), and all files must name the same ``[daemon] state_db`` (one fleet, one queue).
    """
    files = config_files(path)
    configs: list[Config] = []
    owner: dict[str, Path] = {}
    for file in files:
        try:
            config = load_config(file)
        except ConfigError as exc:
            if len(files) == 1:
                raise
            raise ConfigError(f"{file.name}: {exc.message}", key=exc.key) from None
        for store in config.stores:
            if store.name in owner:
                raise ConfigError(
                    f"the store name {store.name!r} is in both {owner[store.name].name} and "
                    f"{file.name}; store names must be unique across the config files "
                    "(they key the shared state database): rename one", key="stores.name")
            owner[store.name] = file
        configs.append(config)
    urls = {c.daemon.state_db_url() for c in configs}
    if len(urls) > 1:
        raise ConfigError("every file of a config directory must name the same [daemon] "
                          f"state_db (found {len(urls)} different ones)", key="daemon.state_db")
    return configs


def require_postgres(config: Config) -> StateDB:
    """The fleet's state database; ``ConfigError`` unless it is PostgreSQL."""
    db = StateDB.from_settings(config.daemon)
    if not db.is_postgres:
        db.dispose()
        raise ConfigError("fleet workers share a PostgreSQL state database: set [daemon] "
                          'state_db = "postgresql://user@host/db" (ogo-syncd run is the '
                          "one-process mode for SQLite)", key="daemon.state_db")
    return db
