"""Trajectory conservation equals scib's own function (``scib.me.trajectory_conservation``)."""

from __future__ import annotations

import numpy as np
import pytest
import scanpy as sc

import scmf


@pytest.fixture
def with_pseudotime(pbmc):
    """pbmc68k_reduced with a reference pseudotime (scanpy's DPT on its own PCA graph)."""
    pbmc.uns["iroot"] = int(np.flatnonzero(pbmc.obs["bulk_labels"] == "CD34+")[0])
    sc.tl.dpt(pbmc)
    pbmc.obs.loc[pbmc.obs_names[:20], "dpt_pseudotime"] = np.nan  # cells without a reference are left out
    return pbmc


@pytest.mark.parametrize("batch_key", [None, "phase"])
def test_equals_scib(with_pseudotime, batch_key):
    import matplotlib as mpl

    with mpl.rc_context():  # importing scib restyles matplotlib globally (other tests draw images)
        scib = pytest.importorskip("scib")
    a = with_pseudotime
    reps = ["X_pca_baseline", "X_random_baseline", "X_pca"]
    scmf.bm.trajectory_conservation(a, "dpt_pseudotime", "bulk_labels", use_rep=reps, batch_key=batch_key)
    got = scmf.bm.results(a).set_index("rep")["value"]
    for rep in reps:
        post = a.copy()
        sc.pp.neighbors(post, n_neighbors=15, use_rep=rep)
        want = scib.me.trajectory_conservation(a, post, label_key="bulk_labels", pseudotime_key="dpt_pseudotime",
                                               batch_key=batch_key)  # fmt: skip
        assert got[rep] == pytest.approx(float(want), abs=1e-9), rep
    assert got["X_pca"] > got["X_random_baseline"]  # the graph the reference was made on orders cells best


def test_bad_input(with_pseudotime):
    a = with_pseudotime
    with pytest.raises(KeyError, match="compute a reference pseudotime first"):
        scmf.bm.trajectory_conservation(a, "nope", "bulk_labels", use_rep="X_pca")
    a.obs["word"] = "early"
    with pytest.raises(TypeError, match="must be numeric"):
        scmf.bm.trajectory_conservation(a, "word", "bulk_labels", use_rep="X_pca")
    a.obs["few"] = np.nan
    a.obs.loc[a.obs_names[:3], "few"] = [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match="at least 10 cells"):
        scmf.bm.trajectory_conservation(a, "few", "bulk_labels", use_rep="X_pca")
