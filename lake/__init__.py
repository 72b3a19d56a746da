"""The Parquet data lake: chunk files, per-scan manifests and the read-only DuckDB catalog.

Layout: ``<root>/scan=<name>/part-<chunk:06d>.parquet`` plus ``<root>/scan=<name>/manifest.json``.
A chunk counts only once the manifest records it; readers open only recorded files.
"""
