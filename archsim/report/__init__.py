"""Report stage: JSON/CSV tables and console summaries of a run."""

from archsim.report.report import build_report, summary, to_csv, to_json, write_report

__all__ = ["build_report", "summary", "to_csv", "to_json", "write_report"]
