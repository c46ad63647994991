"""The report's figures: the comparison chart of each section, and the benchmark's own figures
(``scmf.pl`` on the stored artifacts), drawn in worker processes where there are many."""

from __future__ import annotations

import base64
import io
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._keys import rep_kind
from ._inputs import context_name

#: figure formats: how a figure is embedded (both decode offline in every browser)
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}


def section_chart(sub, spec, ctx, bench, base, comparisons) -> Any:
    from markupsafe import Markup

    from ._svg import colours_for, comparison_chart

    sig: set[tuple[str, str]] = set()
    if base is not None and comparisons is not None and not comparisons.empty:
        c = comparisons[
            (comparisons["benchmark"] == bench) & comparisons["significant"].fillna(False).astype(bool)
        ]
        sig = {(r.rep, r.metric) for r in c.itertuples() if context_name(r.source, r.dataset) == ctx}
    entries = list(dict.fromkeys(sub["entry"]))
    declared = [x.name for x in spec.metrics]
    metrics = []
    for m, g in sub.groupby("metric", sort=False):
        decl = spec.metric(m)
        known = any(m == d or m.startswith(d + "_") for d in declared)
        by_entry = {r.entry: r for r in g.itertuples()}
        bars = []
        for e in entries:
            r = by_entry.get(e)
            if r is None:
                bars.append(None)
                continue
            v, lo, hi = (float(x) if x is not None else math.nan for x in (r.value, r.ci_low, r.ci_high))
            interval = f" [{lo:.4g}, {hi:.4g}]" if np.isfinite(lo) and np.isfinite(hi) else ""
            bars.append((v, lo, hi, (r.rep, m) in sig, f"{e} · {m}: {v:.4g}{interval}"))
        metrics.append({
            "name": m, "arrow": ("↑" if decl.higher_is_better else "↓") if known else "",
            "bounds": decl.bounds if known else None, "bars": bars,
        })  # fmt: skip
    return Markup(comparison_chart(entries, metrics, colours_for(entries)))


@dataclass
class _Job:
    """One matplotlib figure to draw: ``scmf.pl`` on a small holder of the stored results."""

    caption: str
    bench: str
    index: int  # which of the benchmark's figures
    holder: Any
    dataset: str
    rep: Any  # a representation, or the list of them for a per-section figure
    src: str = ""
    note: str | None = None


#: curve figures (GRN, label efficiency) draw at most this many representations, best-ranked first
MAX_CURVES = 5


def own_figures(sub, spec, bench, by_name, base, max_figures, notes) -> list[_Job]:
    """The benchmark's own figures of a section, to be drawn (see :func:`_draw_all`)."""
    sources = list(dict.fromkeys(sub["origin_source"]))
    dataset = str(sub["dataset"].iloc[0])
    jobs: list[_Job] = []
    holders = {s: by_name[s].plotted(bench, dataset) for s in sources if by_name[s].holder is not None}
    if not holders:
        if bench in _PER_REP or bench in _PER_SECTION:
            notes.append(
                "the benchmark's own figures need the stored artifacts, which a JSON input does not carry."
            )
        return jobs
    order = _figure_order(sub, spec, base) if bench in _PER_SECTION or bench in _PER_REP else []
    for s, holder in holders.items():
        if bench not in _PER_SECTION:
            break
        ranked = [p for p in order if p[0] == s]
        reps = [p[1] for p in ranked[:MAX_CURVES]]
        if len(ranked) > MAX_CURVES:
            notes.append(
                f"curves drawn for the {MAX_CURVES} best-ranked representations and the baseline of "
                f"{len(ranked)}; not drawn: {', '.join(p[2] for p in ranked[MAX_CURVES:])}."
            )
        if bench in _FROM_TABLE:  # drawn from the results table, not from stored artifacts
            rows = sub[(sub["origin_source"] == s) & sub["origin_rep"].isin(reps)]
            holder = rows.drop(columns=["entry", "context", "source"])
        for i, (caption, _) in enumerate(_PER_SECTION.get(bench, [])):
            jobs.append(
                _Job(caption + (f" ({s})" if len(holders) > 1 else ""), bench, i, holder, dataset, reps)
            )
    if bench in _PER_REP:
        pairs = [p for p in order if p[0] in holders]
        shown = pairs[:max_figures]
        for s, rep, label in shown:
            for i, (caption, _) in enumerate(_PER_REP[bench]):
                jobs.append(_Job(f"{caption}: {label}", bench, i, holders[s], dataset, rep))
        left = [p[2] for p in pairs if p not in shown]
        if left:
            notes.append(
                f"per-representation figures drawn for {len(shown)} of {len(pairs)} representations "
                f"(max_figures={max_figures}); not drawn: {', '.join(left)}."
            )
    return jobs


def _figure_order(sub, spec, base) -> list[tuple[str, str, str]]:
    """(source, rep, label) of a section's entries: the best-ranked model first, then the
    baseline, then the others by rank (mean rank over the section's metrics)."""
    t = sub.drop_duplicates(["entry", "metric"])
    wide = t.pivot_table(index="entry", columns="metric", values="value", aggfunc="first", sort=False)
    signs = np.array([1.0 if spec.metric(m).higher_is_better else -1.0 for m in wide.columns])
    ranks = (-(wide * signs)).rank(axis=0, method="average").mean(axis=1).sort_values(kind="stable")
    first = t.drop_duplicates("entry").set_index("entry")
    order = [
        (str(first.at[e, "origin_source"]), str(first.at[e, "origin_rep"]), str(first.at[e, "rep"]))
        for e in ranks.index
    ]
    models = [p for p in order if rep_kind(p[1]) == "model"]
    head = models[:1] + [p for p in order if p[2] == base]
    return head + [p for p in order if p not in head]


_PER_REP = {
    "linear_probe": [
        ("confusion matrix (rows: true class, normalised)", lambda pl, h, d, r: pl.confusion_matrix(h, rep=r, dataset=d, return_fig=True)),
        ("F1 per class", lambda pl, h, d, r: pl.f1_per_class(h, rep=r, dataset=d, return_fig=True)),
    ],
    "perturbation": [
        ("per test perturbation: model against the mean-shift baseline", lambda pl, h, d, r: pl.perturbation_vs_baseline(h, rep=r, dataset=d, return_fig=True)),
        ("predicted against true deltas", lambda pl, h, d, r: pl.perturbation(h, rep=r, dataset=d, max_panels=2, return_fig=True)),
    ],
}  # fmt: skip
_FROM_TABLE = ("label_efficiency",)
_PER_SECTION = {
    "grn_inference": [
        ("ROC and precision-recall curves", lambda pl, h, d, reps: pl.grn_curves(h, rep=reps, dataset=d, return_fig=True)),
    ],
    "label_efficiency": [
        ("label efficiency", lambda pl, h, d, reps: pl.label_efficiency(h, dataset=d, return_fig=True)),
    ],
    "invariance": [
        ("per change, each model's per-cell cosine to its reference embedding (1: unchanged)",
         lambda pl, h, d, reps: pl.invariance(h, rep=reps, dataset=d, return_fig=True)),
    ],
}  # fmt: skip


def draw_all(jobs: list[_Job], figure_format: str) -> None:
    """Draw every figure, in worker processes where there are many (each figure costs a few
    tenths of a second of matplotlib layout and encoding; they are independent)."""
    workers = _workers(len(jobs))
    if workers <= 1:
        for job in jobs:
            job.src, job.note = _draw(job, figure_format)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_quiet_backend) as pool:
        done = pool.map(
            _draw, jobs, [figure_format] * len(jobs), chunksize=max(1, len(jobs) // (4 * workers))
        )
        for job, (src, note) in zip(jobs, done, strict=True):
            job.src, job.note = src, note


def _quiet_backend() -> None:
    """In a worker: draw with Agg (the parent's interactive backend is not the worker's to use).
    The parent's backend is never changed."""
    import matplotlib

    matplotlib.use("agg")


def _workers(n_jobs: int) -> int:
    """Processes to draw ``n_jobs`` figures with: one below 8 figures or where fork is unsafe
    (not Linux), else up to the cores this process may use."""
    import multiprocessing
    import sys

    if (
        n_jobs < 8
        or not sys.platform.startswith("linux")
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - Linux has it
        cores = os.cpu_count() or 1
    return max(1, min(cores, n_jobs // 4))


def _draw(job: _Job, figure_format: str) -> tuple[str, str | None]:
    """(data URI, None), or ("", note) when the figure cannot be drawn; the figure is closed."""
    import matplotlib.pyplot as plt

    from .. import pl

    table = _PER_REP if isinstance(job.rep, str) else _PER_SECTION
    make = table[job.bench][job.index][1]
    try:
        fig = make(pl, job.holder, job.dataset, job.rep)
    except (KeyError, ValueError, TypeError, IndexError) as e:
        return "", f"{job.caption} not drawn: {e}"
    try:
        buf = io.BytesIO()
        if figure_format == "svg":
            with plt.rc_context({"svg.fonttype": "path", "svg.hashsalt": "scmf"}):
                fig.savefig(buf, format="svg", metadata={"Date": None})
        else:
            fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
    finally:
        plt.close(fig)
    return f"data:{FORMATS[figure_format]};base64," + base64.b64encode(buf.getvalue()).decode("ascii"), None
