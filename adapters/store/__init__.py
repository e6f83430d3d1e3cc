"""The market-data store: hive-partitioned Parquet with a DuckDB catalog, on a local disk or
S3-compatible object storage; bars, mark/index bars, funding, open interest and trades;
durable ingest, streaming import, checks, repair, readers, and saved results
(``docs/store.md``)."""

from tradeloom.adapters.store.market_store import MarketStore

__all__ = ["MarketStore"]
