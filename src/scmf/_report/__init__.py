"""One self-contained HTML file of evaluation results, for a colleague's browser.

:func:`report` reads what :func:`scmf.bm.collect` reads (evaluated files, AnnData objects, a
mapping) and writes a page with the summary, one section per benchmark and dataset, the
provenance of every result and how to reproduce it. Nothing is recomputed: every number is a
stored one, every figure is drawn from stored results.
"""

from __future__ import annotations

from ._build import report

__all__ = ["report"]
