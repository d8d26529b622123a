"""The local state database: tables, sessions, migrations."""

from syncd.state.tables import Cursor, Failure, JobRun, OrderLink, ProductLink, StockLevel

__all__ = ["Cursor", "Failure", "JobRun", "OrderLink", "ProductLink", "StockLevel"]
