from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anndata import AnnData


def read_lazy(path: str | Path, *, chunk_size: int = 10_000, layer: str | None = None) -> AnnData:
    """An ``.h5ad`` or ``.zarr`` store with ``obs``/``var`` in memory and the expression as a Dask array.

    The expression (``X``, or ``layers[layer]`` placed in ``X``) is read lazily by
    ``anndata.experimental.read_elem_lazy`` in blocks of ``chunk_size`` cells (all genes per
    block): nothing is loaded until a block is computed, on this process or on the
    ``dask.distributed`` workers that read it. :func:`scmf.tl.embed` embeds such an
    AnnData block by block. Needs ``scmf[dask]``.

    Examples
    --------
    >>> import scmf  # doctest: +SKIP
    >>> adata = scmf.datasets.read_lazy("atlas.zarr", chunk_size=20_000)  # doctest: +SKIP
    >>> scmf.tl.embed(adata, "path/to/checkpoint")  # doctest: +SKIP
    """
    try:
        from anndata.experimental import read_elem_lazy
    except ImportError:  # pragma: no cover - anndata < 0.11
        msg = "read_lazy needs anndata >= 0.11."
        raise ImportError(msg) from None
    try:
        import dask.array  # noqa: F401
    except ImportError:
        msg = "read_lazy needs dask: pip install 'scmf[dask]'."
        raise ImportError(msg) from None
    import anndata as ad

    p = Path(path)
    if not p.exists():
        msg = f"data file {str(p)!r} does not exist."
        raise FileNotFoundError(msg)
    if p.is_dir() or p.suffix == ".zarr":
        import zarr

        group = zarr.open_group(str(p), mode="r")
    else:
        import h5py

        group = h5py.File(p, "r")  # stays open: the lazy blocks read from it
    key = "X" if layer is None else f"layers/{layer}"
    if key not in group:
        msg = (
            f"{str(p)!r} has no {key!r}"
            + (f" (layers: {list(group['layers'])})" if "layers" in group else "")
            + "."
        )
        raise KeyError(msg)
    X = read_elem_lazy(group[key], chunks=(int(chunk_size), -1))
    obs = ad.io.read_elem(group["obs"])
    var = ad.io.read_elem(group["var"])
    adata = ad.AnnData(X=X, obs=obs, var=var)
    from .._uns import write_dataset_name

    write_dataset_name(adata, p.name[: -len(".zarr")] if p.name.endswith(".zarr") else p.stem)
    return adata
