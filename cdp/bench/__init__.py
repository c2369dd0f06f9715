"""Benchmarks of cdp's services on this machine; `cdp bench ingest` loads the collector."""

from cdp.bench.ingest import IngestOptions, run_ingest_bench
from cdp.bench.report import IngestReport, render_table, write_report

__all__ = ["IngestOptions", "IngestReport", "render_table", "run_ingest_bench", "write_report"]
