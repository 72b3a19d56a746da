"""The Parquet data lake, local or ``s3://``: chunk files, per-scan manifests, maintenance
(``lake.maintenance``) and the read-only DuckDB catalog.

Layout: ``<root>/scan=<name>/part-<chunk:06d>.parquet`` plus ``<root>/scan=<name>/manifest.json``.
A chunk counts only once the manifest records it; readers open only recorded files.
"""
