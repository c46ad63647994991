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


def finish(fig, axs, *, show: bool | None, return_fig: bool):
    import matplotlib.pyplot as plt

    if return_fig:
        return fig
    if show is None:
        show = plt.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo", "template")
    if show:
        plt.show()
        return None
    return axs[0] if len(axs) == 1 else axs
