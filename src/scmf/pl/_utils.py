"""What every scmf plot does the same way: find stored results, make or reuse axes, finish."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anndata import AnnData


def stored(adata: AnnData, benchmark: str, *, rep: str | None, dataset: str | None):
    """The stored result of ``benchmark`` (one rep/dataset), with a clear error when absent."""
    from .._store import iter_results

    found = [r for r in iter_results(adata) if r.benchmark == benchmark]
    if not found:
        msg = f"no {benchmark} results in adata.uns['scmf_bench']; run scmf.bm.{benchmark} first."
        raise KeyError(msg)
    if dataset is not None:
        found = [r for r in found if r.dataset == dataset]
    if rep is not None:
        found = [r for r in found if r.rep == rep]
    if not found:
        have = sorted({(r.dataset, r.rep) for r in iter_results(adata) if r.benchmark == benchmark})
        msg = f"no {benchmark} result for rep={rep!r}, dataset={dataset!r}; stored (dataset, rep): {have}."
        raise KeyError(msg)
    if len(found) > 1:
        have = sorted((r.dataset, r.rep) for r in found)
        msg = f"{len(found)} {benchmark} results match; pass rep= and/or dataset= (stored: {have})."
        raise ValueError(msg)
    return found[0]


def axes(ax, ncols: int = 1, *, size=(4.0, 3.2)):
    import matplotlib.pyplot as plt

    if ax is not None:
        axs = list(ax) if isinstance(ax, list | tuple) else [ax]
        if len(axs) != ncols:
            msg = f"this plot draws on {ncols} axes; pass a list of {ncols} or ax=None."
            raise ValueError(msg)
        return axs[0].figure, axs
    fig, axs = plt.subplots(1, ncols, figsize=(size[0] * ncols, size[1]), squeeze=False, layout="constrained")
    return fig, list(axs[0])


def _no_tex(x) -> str:
    """``x`` with its dollar signs escaped, so that matplotlib draws them instead of reading TeX."""
    s = str(x)
    return s if "\\$" in s else s.replace("$", "\\$")


def _plain_func(func):
    def plain(x, pos=None):
        return _no_tex(func(x, pos))

    plain._scmf_plain = True  # type: ignore[attr-defined]
    return plain


def plain_text(fig) -> None:
    """Labels from the data are text, never TeX: a cell type named ``$\\badcommand$`` would stop
    matplotlib's mathtext parser. Titles, legends and annotations are drawn as plain text; tick
    labels given as data (categories) have their ``$`` escaped; numeric tick labels, which
    matplotlib's formatters write in mathtext (``10^{-3}``), are left as they are."""
    from matplotlib.text import Text
    from matplotlib.ticker import FixedFormatter, FuncFormatter, LogFormatter, ScalarFormatter

    ticks = set()
    for a in fig.axes:
        for axis in (a.xaxis, a.yaxis):
            f = axis.get_major_formatter()
            if isinstance(f, FixedFormatter):
                f.seq = [_no_tex(x) for x in f.seq]
            elif not isinstance(f, ScalarFormatter | LogFormatter) and not getattr(
                getattr(f, "func", None), "_scmf_plain", False
            ):  # labels that come from the data (categories, a labelling function)
                axis.set_major_formatter(
                    FuncFormatter(_plain_func(f.func if isinstance(f, FuncFormatter) else f))
                )
            ticks.add(id(axis.offsetText))
            for t in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks.update((id(t.label1), id(t.label2)))
    for t in fig.findobj(Text):
        if id(t) not in ticks:
            t.set_parse_math(False)


def finish(fig, axs, *, show: bool | None, return_fig: bool):
    import matplotlib.pyplot as plt

    plain_text(fig)

    if return_fig:
        return fig
    if show is None:
        show = plt.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo", "template")
    if show:
        plt.show()
        return None
    return axs[0] if len(axs) == 1 else axs


#: the parameters plots share, documented once (scanpy's ``_doc_params`` habit)
SHARED_PARAMS = {
    "data": "Results to draw: an evaluated AnnData, evaluated files (``.h5ad``, ``.zarr``, scmf JSON),\n"
    "a mapping ``{source: item}``, or a table of :func:`scmf.bm.results` / :func:`scmf.bm.collect`.",
    "adata": "An AnnData holding the results (``uns['scmf_bench']``) or the representations to draw.",
    "rep": "Representation whose results to draw (needed when several are stored).",
    "dataset": "Dataset whose results to draw (needed when several are stored).",
    "source": "Source (file or mapping key) whose results to draw, with several sources.",
    "metrics": "Metrics to draw (default: all stored).",
    "benchmark": "Benchmark whose results to draw.",
    "ax": "Matplotlib axes to draw on (a list of them for a plot with several panels); ``None``:\n"
    "a new figure.",
    "show": "Show the figure (``None``: unless the backend is non-interactive, as in scripts and tests).",
    "return_fig": "Return the figure instead of the axes.",
}
_RETURNS = """Returns
-------
The axes drawn on (a list for several panels), the figure with ``return_fig=True``, or
``None`` when the figure was shown."""


def plot_docs(func):
    """Complete a plot's docstring: its own parameters first, then the shared ones (above) in
    signature order, and the Returns section every plot shares. A parameter documented
    nowhere is an error at import time."""
    import inspect

    doc = inspect.cleandoc(func.__doc__ or "")
    lines = doc.split("\n")
    own: dict[str, list[str]] = {}
    if "Parameters" in lines:  # the function's own entries, taken out to be put in order
        i = lines.index("Parameters")
        j = i + 2
        while j < len(lines) and not (j + 1 < len(lines) and lines[j + 1].startswith("---")):
            j += 1
        name = None
        for line in lines[i + 2 : j]:
            if line and not line.startswith(" "):
                name = line.split(",")[0].strip().lstrip("*")
                own[name] = [line]
            elif name is not None:
                own[name].append(line)
        del lines[i:j]
    entries = []
    for p in inspect.signature(func).parameters.values():
        if p.name in own:
            entries += [line for line in own[p.name] if line.strip()]
        elif p.name in SHARED_PARAMS:
            text = SHARED_PARAMS[p.name].split("\n")
            entries += [p.name, *("    " + t for t in text)]
        elif p.kind is p.VAR_KEYWORD:
            continue
        else:
            msg = f"{func.__name__}: parameter {p.name!r} is documented nowhere."
            raise TypeError(msg)
    where = lines.index("Examples") if "Examples" in lines else len(lines)
    block = ["Parameters", "----------", *entries, "", *_RETURNS.split("\n")]
    while where > 0 and not lines[where - 1].strip():
        where -= 1
    lines[where:where] = ["", *block]
    func.__doc__ = "\n".join(lines)
    return func


BATCH_NOTE = "† uses batch labels (an integration method, not zero-shot)"


def label_rep(label: str, kind: str) -> str:
    """A row label, marked ``†`` where the representation read the batch labels."""
    return f"{label} †" if kind == "baseline (batch labels)" else str(label)
