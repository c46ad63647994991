"""Cell-cycle conservation equals scib's own function (``scib.me.cell_cycle``)."""

from __future__ import annotations

import numpy as np
import pytest

import scmf


@pytest.fixture(scope="module")
def scib_module():
    import matplotlib as mpl

    with mpl.rc_context():  # importing scib restyles matplotlib globally (other tests draw images)
        return pytest.importorskip("scib")


def test_stored_scores_equal_scib(pbmc, scib_module):
    """pbmc68k_reduced's own S/G2M scores (scIB's recompute_cc=False), one batch and per phase."""
    reps = ["X_pca_baseline", "X_random_baseline"]
    for batch_key in (None, "louvain"):
        a = pbmc.copy()
        a.obs["one"] = "all"
        scmf.bm.cell_cycle_conservation(a, use_rep=reps, batch_key=batch_key)
        got = scmf.bm.results(a).set_index("rep")["value"]
        for rep in reps:
            want = scib_module.me.cell_cycle(
                a, a, batch_key=batch_key or "one", embed=rep, recompute_cc=False
            )
            assert got[rep] == pytest.approx(float(want), rel=1e-5, abs=1e-7), (batch_key, rep)
        if batch_key is None:
            assert got["X_pca_baseline"] > got["X_random_baseline"]


@pytest.mark.slow
def test_gene_lists_equal_scib_on_kang(kang, scib_module):
    """Scores computed per batch from Tirosh et al.'s gene lists (scib's copy), Kang control vs stimulated."""
    import scanpy as sc

    genes = scib_module.preprocessing.get_cell_cycle_genes("human")
    s = list(genes.query("phase == 'S'")["gene_name"])
    g2m = list(genes.query("phase == 'G2/M'")["gene_name"])
    a = kang.copy()
    sc.pp.pca(a, n_comps=30, key_added="X_pca30")
    a.obsm["X_noise"] = np.random.default_rng(0).normal(size=(a.n_obs, 30)).astype(np.float32)
    with pytest.warns(scmf.ScmfWarning, match="are not in the data"):
        scmf.bm.cell_cycle_conservation(a, s, g2m, batch_key="condition", use_rep=["X_pca30", "X_noise"])
    got = scmf.bm.results(a).set_index("rep")["value"]
    pre = kang.copy()
    for rep in ("X_pca30", "X_noise"):
        want = scib_module.me.cell_cycle(pre, a, batch_key="condition", embed=rep, organism="human")
        assert got[rep] == pytest.approx(float(want), rel=1e-5, abs=1e-7), rep
    assert got["X_pca30"] > got["X_noise"]
    stored = scmf.bm.results(a, replicates=False)
    assert '"normalize": "none"' in stored["params"].iloc[0]  # Kang is log-normalised already


def test_bad_input(pbmc):
    a = pbmc
    with pytest.raises(ValueError, match="give both"):
        scmf.bm.cell_cycle_conservation(a, ["PCNA"], use_rep="X_pca")
    b = a.copy()
    del b.obs["S_score"]
    with pytest.raises(KeyError, match="pass s_genes= and g2m_genes="):
        scmf.bm.cell_cycle_conservation(b, use_rep="X_pca")
    with pytest.raises(ValueError, match="none of the 2 s_genes"):
        scmf.bm.cell_cycle_conservation(a, ["NOPE1", "NOPE2"], ["HMGB2"], use_rep="X_pca")
    with pytest.raises(TypeError, match="list of gene names"):
        scmf.bm.cell_cycle_conservation(a, "PCNA", ["HMGB2"], use_rep="X_pca")
    before = a.X.copy()
    a.obs["tiny"] = np.where(np.arange(a.n_obs) < 5, "few", "many")
    with pytest.warns(scmf.ScmfWarning, match="fewer than 10 cells"):
        scmf.bm.cell_cycle_conservation(a, batch_key="tiny", use_rep="X_pca")
    np.testing.assert_array_equal(a.X, before)  # the user's data is untouched
