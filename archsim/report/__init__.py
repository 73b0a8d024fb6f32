"""Report stage: the run report (JSON, CSV, summary CSV), console summaries, plots, timelines.

* :mod:`~archsim.report.report` — :class:`Report` and :func:`build_report`;
* :mod:`~archsim.report.summary` — console summaries, with one formatter for every figure;
* :mod:`~archsim.report.scrramble` — the ScRRAMBLe section of ``archsim scrramble``;
* :mod:`~archsim.report.training` — the training section of a run with training units;
* :mod:`~archsim.report.plots`, :mod:`~archsim.report.plot_cli` — figures;
* :mod:`~archsim.report.timeline` — Chrome Trace Event JSON of a recorded timeline.
"""

from archsim.report.report import Report, build_report, to_csv, to_json, write_report
from archsim.report.summary import summary

__all__ = ["Report", "build_report", "summary", "to_csv", "to_json", "write_report"]
