"""Gather stored results into the report's content, and render it with the page template.

Everything shown is read: numbers from the results store (through :func:`scmf.bm.comparison_table`,
:func:`~scmf.bm.rank_summary`, :func:`~scmf.bm.compare`, :func:`~scmf.bm.aggregate_table`),
figures from ``scmf.pl`` on those results. Whatever cannot be shown (a file without results, a
figure whose artifacts were not stored, a comparison refused) becomes a note on the page, never
a crash and never a guess.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import _store
from .._io import write_text_atomic
from .._keys import DEFAULT_DATASET, PCA_BASELINE_KEY, rep_kind
from ._figures import FORMATS, draw_all, own_figures, section_chart
from ._inputs import Source, context_name, inputs_table, read_sources, versions


def report(
    data: Any,
    path: str | os.PathLike = "report.html",
    *,
    baseline: str | None = None,
    title: str | None = None,
    across_sources: bool = False,
    max_figures: int = 2,
    figure_format: str = "png",
) -> Path:
    """Write one self-contained HTML report of stored evaluation results.

    The page needs nothing but a browser: figures are inline images, styles and the few lines
    of script (sortable tables) are in the file, nothing is fetched, so it opens offline from
    an e-mail attachment or a shared drive and prints to PDF. It holds:

    - a summary: which representations were evaluated on which datasets and benchmarks, the
      rank summary (:func:`scmf.bm.rank_summary`), and each representation's differences from
      ``baseline`` in words ("better than X_pca_baseline on 5 of 6 metrics, significantly on
      3"), with intervals and Holm-adjusted p-values from :func:`scmf.bm.compare`;
    - one section per benchmark and dataset (and source): the results as a sortable table
      (value and 95% interval, coloured as :func:`scmf.pl.results_table` colours them), the
      comparison figure (:func:`scmf.pl.benchmark_comparison`, significance marks against
      the baseline), and the benchmark's own figures where their artifacts are stored
      (confusion matrix, per-class F1, perturbation scatter, GRN curves, label efficiency,
      embedding quality). Sources and datasets are never merged, and rows computed with
      different settings are separate, labelled entries;
    - provenance: scmf and library versions, input files and sizes, each result's parameters
      (seed included) and time, the model's recorded parameters; and the call that
      reproduces each result, as far as it is recorded.

    Nothing is recomputed. Inputs without results, results from other scmf versions, a
    benchmark this installation does not know (shown from its stored values) and figures
    whose artifacts are missing give notes on the page, not errors.

    Parameters
    ----------
    data
        What :func:`scmf.bm.collect` accepts: evaluated ``.h5ad``/``.zarr``/JSON files,
        AnnData objects, a list of them or a mapping ``{source name: item}``.
    path
        The HTML file to write (atomically; the umask is respected).
    baseline
        Representation every other one is compared with. Default: ``X_pca_baseline`` where
        present, else the first baseline stored (``X_<name>_baseline``), else no comparison.
    title
        Page title (default: "scmf evaluation report").
    across_sources
        Several sources (files) that hold the same dataset: ``False`` (default) keeps each
        source apart (its own sections, and no rank summary, which would merge same-named
        representations of different files; a note says so); ``True`` sets their
        representations against each other as models of their own (``"source · rep"``), as in
        :func:`scmf.bm.comparison_table`, ranked together.
    max_figures
        Per section, draw the benchmark's own per-representation figures (confusion matrix,
        per-class F1, perturbation scatter) for at most this many representations: the
        best-ranked model of the section, then the baseline, then by rank. The page says which
        were left out.
    figure_format
        ``"png"`` (default: small and quick) or ``"svg"`` (sharp when zoomed or printed).

    Returns
    -------
    The path written.

    Examples
    --------
    >>> import os, tempfile, scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata, n_comps=20)
    >>> scmf.bm.linear_probe(adata, "bulk_labels", use_rep=["X_pca_baseline", "X_random_baseline"], n_splits=3)
    >>> path = scmf.report(adata, os.path.join(tempfile.mkdtemp(), "report.html"))
    >>> path.read_text().count("<section class=\\"bench\\"")
    1
    """
    if figure_format not in FORMATS:
        msg = f"figure_format must be one of {sorted(FORMATS)}, got {figure_format!r}."
        raise ValueError(msg)
    if not isinstance(max_figures, int | np.integer) or max_figures < 0:
        msg = f"max_figures must be a non-negative integer, got {max_figures!r}."
        raise ValueError(msg)
    html = render(
        data,
        baseline=baseline,
        title=title,
        across_sources=across_sources,
        max_figures=int(max_figures),
        figure_format=figure_format,
    )
    return write_text_atomic(path, html)


def render(
    data: Any,
    *,
    baseline: str | None = None,
    title: str | None = None,
    across_sources: bool = False,
    max_figures: int = 2,
    figure_format: str = "png",
) -> str:
    """The report's HTML text (what :func:`report` writes)."""
    import matplotlib

    notes: list[str] = []
    with (
        warnings.catch_warnings(record=True) as caught,
        matplotlib.rc_context({"figure.max_open_warning": 0}),
    ):
        warnings.simplefilter("always")
        sources = read_sources(data, notes)
        context = _content(sources, notes, baseline, across_sources, max_figures, figure_format)
    for w in caught:
        text = str(w.message)
        if issubclass(w.category, UserWarning) and text not in notes:
            notes.append(text)
    context.update(title=title or "scmf evaluation report", notes=notes, built=_store.provenance())
    return _template().render(**context)


def _content(sources, notes, baseline, across_sources, max_figures, figure_format) -> dict[str, Any]:
    from ..bm import comparison_table

    empty = {
        "sources": inputs_table(sources),
        "overview": [],
        "ranks": None,
        "comparison": None,
        "sections": [],
        "results": [],
    }
    if not sources:
        notes.append("no results to report: none of the inputs holds scmf results.")
        return empty
    frames = []
    for src in sources:
        t = src.table.copy()
        t.insert(0, "source", src.name if len(sources) > 1 else "")
        t["origin_source"] = src.name
        t["origin_rep"] = t["rep"]
        frames.append(t)
    t = pd.concat(frames, ignore_index=True)
    recorded = sorted({v for s in sources for v in versions(s)})
    if len(recorded) > 1:
        notes.append(
            f"the results were computed by different scmf versions ({', '.join(recorded)}); check each "
            "result's provenance before comparing them."
        )
    ct = comparison_table(t, replicates=True, warn_settings=True, across_sources=across_sources)
    by_name = {s.name: s for s in sources}
    base = _baseline(ct, baseline, notes)
    comparisons = _comparisons(t, ct, base, across_sources, notes)
    sections = [
        _section(ct, ctx, bench, by_name, base, comparisons, max_figures)
        for (ctx, bench) in dict.fromkeys(zip(ct["context"], ct["benchmark"], strict=True))
    ]
    draw_all([j for s in sections for j in s["jobs"]], figure_format)
    for s in sections:
        for job in s.pop("jobs"):
            if job.src:
                s["figures"].append({"caption": job.caption, "svg": "", "src": job.src})
            if job.note:
                s["notes"].append(job.note)
    return {
        "sources": inputs_table(sources),
        "overview": _overview(ct),
        "ranks": _ranks(t, across_sources, notes),
        "comparison": _summary_words(comparisons, base),
        "sections": sections,
        "baseline": base,
    }


def _baseline(ct: pd.DataFrame, baseline: str | None, notes: list[str]) -> str | None:
    reps = list(dict.fromkeys(ct["rep"]))
    if baseline is not None:
        hits = [r for r in reps if r == baseline or r.endswith(" · " + baseline)]
        if len(hits) == 1:
            return hits[0]
        notes.append(
            f"baseline {baseline!r} is {'ambiguous' if hits else 'not among the results'} "
            f"(representations: {reps}); no comparison with a baseline is shown."
        )
        return None
    origin = dict(zip(ct["rep"], ct["origin_rep"], strict=False))
    for want in (PCA_BASELINE_KEY, None):
        for r in reps:
            if (want is not None and origin[r] == want) or (want is None and rep_kind(origin[r]) != "model"):
                return r
    notes.append(
        "no baseline representation among the results (e.g. scmf.tl.baselines' X_pca_baseline): a model's "
        "scores mean little without the simplest one beside them. No comparison is shown."
    )
    return None


def _comparisons(t, ct, base, across_sources, notes) -> pd.DataFrame | None:
    from ..bm import compare

    if base is None:
        return None
    frames = []
    for bench in dict.fromkeys(ct["benchmark"]):
        sub = t[t["benchmark"] == bench]
        try:
            c = compare(sub, baseline=base, benchmark=bench, across_sources=across_sources)
        except (ValueError, KeyError) as e:
            notes.append(f"{bench}: no comparison with {base} ({e})")
            continue
        frames.append(c)
    return pd.concat(frames, ignore_index=True) if frames else None


def _summary_words(c: pd.DataFrame | None, base: str | None) -> dict[str, Any] | None:
    from ..bm import declaration

    if c is None or c.empty:
        return None
    lines = []
    for rep, g in c.groupby("rep", sort=False):
        up = np.array(
            [
                declaration(b).metric(m).higher_is_better
                for b, m in zip(g["benchmark"], g["metric"], strict=True)
            ]
        )
        d = g["difference"].to_numpy(dtype=float)
        ok = np.isfinite(d)
        good = int(np.sum(ok & np.where(up, d > 0, d < 0)))
        tested = g["p_value"].notna().to_numpy()
        sig_better = int(g["better"].fillna(False).astype(bool).sum())
        sig_worse = int(
            (g["significant"].fillna(False).astype(bool) & ~g["better"].fillna(False).astype(bool)).sum()
        )
        words = f"better than {base} on {good} of {int(ok.sum())} metrics"
        words += f", significantly on {sig_better}" if tested.any() else " (no replicates: nothing tested)"
        if sig_worse:
            words += f"; significantly worse on {sig_worse}"
        if tested.any() and not tested.all():
            words += f" ({int((~tested).sum())} without replicates, not tested)"
        lines.append({"rep": rep, "kind": rep_kind(str(rep).split(" · ")[-1]), "words": words})
    cols = [
        "benchmark",
        "dataset",
        "metric",
        "rep",
        "value",
        "baseline_value",
        "difference",
        "ci_low",
        "ci_high",
        "p_holm",
        "significant",
    ]
    rows = []
    for r in c.itertuples():
        rows.append(
            {
                "benchmark": r.benchmark, "dataset": context_name(r.source, r.dataset), "metric": r.metric, "rep": r.rep,
                "value": _cell(r.value), "baseline_value": _cell(r.baseline_value),
                "difference": _cell(r.difference, r.ci_low, r.ci_high), "p_holm": _cell(r.p_holm, digits=3, sci=True),
                "significant": "yes" if r.significant else "no",
                "better": bool(r.better),
            }
        )  # fmt: skip
    return {"lines": lines, "columns": cols, "rows": rows}


def _overview(ct: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for ctx, g in ct.groupby("context", sort=False):
        reps = list(dict.fromkeys(g["rep"]))
        out.append(
            {
                "context": ctx,
                "anchor": _anchor(ctx, ""),
                "benchmarks": [(b, _anchor(ctx, b)) for b in dict.fromkeys(g["benchmark"])],
                "reps": [
                    (r, rep_kind(str(o)))
                    for r, o in dict.fromkeys(
                        zip(reps, [g.loc[g["rep"] == r, "origin_rep"].iloc[0] for r in reps], strict=True)
                    )
                ],
            }
        )
    return out


def _ranks(t, across_sources, notes) -> dict[str, Any] | None:
    from ..bm import rank_summary

    if not across_sources:
        per_dataset = t.groupby("dataset")["source"].nunique()
        shared = sorted(per_dataset.index[per_dataset > 1])
        if shared:  # pooling would rank same-named representations of different files as one
            notes.append(
                f"no rank summary: {', '.join(map(repr, shared))} is held by several sources, and with "
                "across_sources=False each source keeps its own sections; a rank summary would merge "
                "representations of the same name from different files, which may be different models. "
                "Build the report with across_sources=True to rank them as models of their own."
            )
            return None
    try:
        r = rank_summary(t, across_sources=across_sources)
    except (ValueError, KeyError) as e:
        notes.append(f"no rank summary ({e})")
        return None
    if r.empty:
        return None
    cols = [c for c in r.columns if c not in ("kind",)]
    rows = [
        {
            "rep": str(idx),
            "kind": row["kind"],
            "cells": [_cell(row[c]) if c != "n_datasets" else _cell(row[c], digits=0) for c in cols],
        }
        for idx, row in r.iterrows()
    ]
    return {"columns": cols, "rows": rows}


def _anchor(ctx: str, bench: str) -> str:
    raw = f"{ctx}--{bench}" if bench else ctx
    import zlib

    stable = (
        zlib.crc32(raw.encode("utf-8")) % 10**6
    )  # unique where the cleaned names collide; the same every build
    return "s-" + "".join(c if c.isalnum() else "-" for c in raw).strip("-") + f"-{stable}"


def _section(ct, ctx, bench, by_name, base, comparisons, max_figures) -> dict[str, Any]:
    from ..bm import declaration

    sub = ct[(ct["context"] == ctx) & (ct["benchmark"] == bench)]
    spec = declaration(bench)
    notes = []
    if bench not in _registered():
        notes.append(
            f"{bench} is not a benchmark of this installation (a plugin's?): its metrics are shown as stored, "
            "without declared directions or ranges."
        )
    table = _results_table(sub, spec, notes)
    figures = []
    marks_base = base if base is not None and base in set(sub["rep"]) else None
    chart = section_chart(sub, spec, ctx, bench, marks_base, comparisons)
    if chart:
        caption = "Each metric on its own axis; error bars: 95% intervals; hover a bar for its value"
        if marks_base:
            caption += f"; * significantly different from {marks_base} (Holm-adjusted)"
        figures.append({"caption": caption, "svg": chart, "src": ""})
    jobs = own_figures(sub, spec, bench, by_name, base, max_figures, notes)
    params = list(dict.fromkeys(sub["params"]))
    settings = [_format_params(json.loads(p)) for p in params]
    entries = list(dict.fromkeys(sub["entry"]))
    reps = list(dict.fromkeys(sub["origin_rep"]))
    dataset = str(sub["dataset"].iloc[0])
    calls = [
        _call(
            bench,
            [r for r in reps if r in set(sub.loc[sub["params"] == p, "origin_rep"])],
            json.loads(p),
            dataset,
        )
        for p in params
    ]
    raised: dict[str, list[str]] = {}  # warning text -> representations it was raised for
    for src_name, rep, entry in dict.fromkeys(
        zip(sub["origin_source"], sub["origin_rep"], sub["entry"], strict=True)
    ):
        r = (
            by_name[src_name].stored.get((bench, dataset, rep))
            if by_name[src_name].holder is not None
            else None
        )
        for text in r.metadata.get("warnings", []) if r is not None else []:
            raised.setdefault(str(text), []).append(entry)
    for text, who in raised.items():
        notes.append(f"raised while evaluating {', '.join(who)}: {text}")
    provenance = []
    for (src_name, rep), g in sub.groupby(["origin_source", "origin_rep"], sort=False):
        src = by_name[src_name]
        stamp, version = _result_provenance(src, bench, dataset, rep)
        provenance.append(
            {
                "rep": rep, "source": src_name, "params": json.dumps(json.loads(g["params"].iloc[0]), indent=1, sort_keys=True),
                "timestamp": stamp, "scmf": version,
                "model": json.dumps(_store.canonical(src.embed_params.get(rep, {})), indent=1, sort_keys=True, default=str) if rep in src.embed_params else None,
            }
        )  # fmt: skip
    c = None
    if comparisons is not None and not comparisons.empty:
        csub = comparisons[(comparisons["benchmark"] == bench)]
        csub = csub[[context_name(s, d) == ctx for s, d in zip(csub["source"], csub["dataset"], strict=True)]]
        c = len(csub)
    return {
        "anchor": _anchor(ctx, bench), "benchmark": bench, "context": ctx, "dataset": dataset,
        "description": (spec.func.__doc__ or "").strip().split("\n")[0] if bench in _registered() else "",
        "measures": spec.measures or "",
        "table": table, "figures": figures, "notes": notes, "settings": settings, "n_entries": len(entries),
        "calls": calls, "provenance": provenance, "n_compared": c, "jobs": jobs,
    }  # fmt: skip


def _registered() -> set[str]:
    from ..bm import benchmarks

    return set(benchmarks())


def _results_table(sub: pd.DataFrame, spec, notes: list[str]) -> dict[str, Any]:
    """Rows: entries; columns: metrics, then the benchmark's scores (as ``results_table`` shows them)."""
    import matplotlib as mpl

    from ..bm import aggregate_table

    cmap = mpl.colormaps["YlGnBu"]
    metrics = list(dict.fromkeys(sub["metric"]))
    entries = list(dict.fromkeys(sub["entry"]))
    oriented: dict[tuple[str, str], float] = {}
    scores: dict[str, dict[str, float]] = {}
    score_cols: list[str] = []
    try:
        agg = aggregate_table(sub.drop(columns=["entry", "context"]))
        for col in agg.shown.columns:
            name = col[1]
            for row, v in agg.oriented[col].items():
                oriented[(str(row), name)] = float(v)
            if col in agg.scores and name not in metrics:
                score_cols.append(name)
                for row, v in agg.shown[col].items():
                    scores.setdefault(str(row), {})[name] = float(v)
    except (KeyError, ValueError) as e:  # drawn without colours rather than not at all
        notes.append(f"table colours unavailable ({e})")
    rows = []
    for e in entries:
        g = sub[sub["entry"] == e].set_index("metric")
        cells = []
        for m in metrics:
            if m not in g.index:
                cells.append(_cell(None))
                continue
            r = g.loc[m]
            colour = oriented.get((e, m), math.nan)
            cells.append(_cell(r["value"], r["ci_low"], r["ci_high"], colour=_colour(cmap, colour)))
        for s in score_cols:
            v = scores.get(e, {}).get(s, math.nan)
            cells.append({**_cell(v, colour=_colour(cmap, oriented.get((e, s), math.nan))), "bold": True})
        origin = g["origin_rep"].iloc[0]
        rows.append({"entry": e, "kind": rep_kind(str(origin)), "cells": cells})
    heads = []
    declared = [x.name for x in spec.metrics]
    for m in metrics:
        decl = spec.metric(m)
        known = any(m == d or m.startswith(d + "_") for d in declared)
        arrow = ("↑" if decl.higher_is_better else "↓") if known else ""
        heads.append(
            {
                "name": m,
                "arrow": arrow,
                "group": decl.group if known else "",
                "title": decl.description,
                "bold": False,
            }
        )
    heads += [{"name": s, "arrow": "↑", "group": "score", "title": "", "bold": True} for s in score_cols]
    return {"heads": heads, "rows": rows}


def _colour(cmap, v: float) -> str:
    if not np.isfinite(v):
        return ""
    r, g, b, _ = cmap(float(np.clip(v, 0, 1)))
    text = "#fff" if v > 0.7 else "#000"  # as results_table: white text on the dark end
    return f"background:rgb({round(r * 255)},{round(g * 255)},{round(b * 255)});color:{text}"


def _digits(value: float, lo: float, hi: float) -> int:
    """Decimals that the interval's width supports (two significant digits of the half-width), 2 to 4."""
    if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
        half = (hi - lo) / 2
        return int(min(4, max(2, 1 - math.floor(math.log10(half)))))
    return 3


def _cell(
    value, lo=math.nan, hi=math.nan, *, colour: str = "", digits: int | None = None, sci: bool = False
) -> dict[str, Any]:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return {
            "text": "–" if value is None else str(value),
            "ci": "",
            "value": "",
            "style": colour,
            "bold": False,
        }
    lo = float(lo) if lo is not None else math.nan
    hi = float(hi) if hi is not None else math.nan
    if not np.isfinite(v):
        return {"text": "–", "ci": "", "value": "", "style": colour, "bold": False}
    d = _digits(v, lo, hi) if digits is None else digits
    if sci and v != 0 and abs(v) < 10 ** (-d):
        text = f"{v:.1e}"
    elif abs(v) >= 1e5 or (v != 0 and abs(v) < 1e-4 and digits is None):
        text = f"{v:.3g}"
    else:
        text = f"{v:.{d}f}"
    ci = f"[{lo:.{d}f}, {hi:.{d}f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    return {"text": text, "ci": ci, "value": repr(v), "style": colour, "bold": False}


def _format_params(p: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(p.items()))


def _call(bench: str, reps: list[str], params: dict, dataset: str) -> str:
    args = [f"use_rep={reps[0]!r}" if len(reps) == 1 else f"use_rep={reps!r}"]
    args += [f"{k}={_py(v)}" for k, v in sorted(params.items())]
    if dataset != DEFAULT_DATASET:
        args.append(f"dataset_name={dataset!r}")
    return f"scmf.bm.{bench}(adata, " + ", ".join(args) + ")"


def _py(v: Any) -> str:
    if v is None or isinstance(v, bool | int | float | str):
        return repr(v)
    return repr(json.loads(json.dumps(v)))


def _result_provenance(src: Source, bench: str, dataset: str, rep: str) -> tuple[str, str]:
    if src.holder is None:
        return "not recorded (JSON input)", "–"
    r = src.stored.get((bench, dataset, rep))
    if r is None:
        return "not recorded", "–"
    return str(r.provenance.get("timestamp", "not recorded")), str(r.provenance.get("scmf", "–"))


def _template():
    try:
        import jinja2
    except ImportError as e:  # pragma: no cover - a core dependency
        msg = 'the report needs jinja2: pip install "jinja2>=3"'
        raise ImportError(msg) from e
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("scmf._report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2")
