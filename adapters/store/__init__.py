"""The market-data store: hive-partitioned Parquet with a DuckDB catalog; ingest, import,
checks, readers, and saved results."""

from tradeloom.adapters.store.market_store import MarketStore

__all__ = ["MarketStore"]
