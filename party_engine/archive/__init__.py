"""The archive: every party's events as Parquet files (docs/archive.md).

`schema` is the contract readers rely on, `layout` where each batch goes, `rows` how an event
becomes a row, `reading` what a reader gets back (one party's events, each once)."""
