"""invariance: known answers for per-cell models, refitted baselines, batch-mixing models, thinning and sampling seeds."""

from __future__ import annotations

import numpy as np
import pytest

import scmf
from helpers import counts_of
from scmf import _store


@pytest.fixture(scope="module")
def kang_counts(kang):
    return counts_of(kang[::2].copy())  # 988 cells of 7 types, raw counts


class BatchMixer:
    """A test model that adds ``mix`` x the mean of its batch-mates' projections to each cell's own."""

    def __init__(self, n_genes: int, mix: float) -> None:
        self.W = np.random.default_rng(0).normal(size=(n_genes, 16))
        self.mix = mix
        self.name = f"mixer{mix:g}"

    def embed(self, X, var_names):
        Z = np.log1p(np.asarray(X.todense() if hasattr(X, "todense") else X)) @ self.W
        return Z + self.mix * Z.mean(axis=0, keepdims=True)


def _metrics(adata, rep):
    return _store.get(adata, "invariance", rep=rep).metrics


@pytest.mark.slow
def test_per_cell_model_is_invariant_and_pca_is_not(tmp_path, kang_counts):
    a = kang_counts.copy()
    before_obsm, before_X = set(a.obsm), a.X.copy()
    path = scmf.models.random_release("geneformer", tmp_path / "gf", genes=a)
    scmf.bm.invariance(a, {"geneformer": path, "pca": "pca"}, cell_type_key="cell_type", n_cells=300)
    gf, pca = _metrics(a, "geneformer"), _metrics(a, "pca")
    for v in ("context_other", "context_own_type", "context_alone", "batch_size1", "batch_size_max"):
        assert gf[f"{v}_cosine_mean"] >= 0.999999 and gf[f"{v}_cosine_p5"] >= 0.999999, v
        assert gf[f"{v}_knn_jaccard"] == pytest.approx(1.0), v
    assert gf["gene_order_cosine_mean"] == pytest.approx(1.0, abs=1e-6)
    assert pca["context_other_cosine_mean"] < 0.9 and pca["context_other_knn_jaccard"] < 0.9
    # thinning moves every model more the more counts it removes
    for m in (gf, pca):
        assert m["depth0.25_cosine_mean"] < m["depth0.5_cosine_mean"] < 1.0
    assert "depth0.5_probe_drop" in gf
    # nothing of the user's object changed but the results
    assert set(a.obsm) == before_obsm and (a.X != before_X).nnz == 0
    # paired over cells: compare tests one model against the other
    c = scmf.bm.compare(a, baseline="pca", benchmark="invariance").set_index("metric")
    assert c.loc["context_other_cosine_mean", "p_value"] < 1e-6
    r = _store.get(a, "invariance", rep="pca")
    assert "context_alone" in r.metadata["skipped"] and r.replicates["context_other_cosine_mean"].size == 300


def test_a_model_that_mixes_batch_mates_fails_context_in_proportion(kang_counts):
    a = kang_counts[:, :200].copy()
    models = {f"mix{m:g}": BatchMixer(a.n_vars, m) for m in (0.0, 0.3, 1.0)}
    scmf.bm.invariance(a, models, checks=("context", "batch_size"), n_cells=200, batch_size=32)
    cos = [_metrics(a, f"mix{m:g}")["context_other_cosine_mean"] for m in (0.0, 0.3, 1.0)]
    assert cos[0] == pytest.approx(1.0) and cos[0] > cos[1] > cos[2]
    bs = [_metrics(a, f"mix{m:g}")["batch_size1_cosine_mean"] for m in (0.0, 0.3, 1.0)]
    assert bs[0] == pytest.approx(1.0) and bs[0] > bs[1] > bs[2]


@pytest.mark.slow
def test_scgpt_sampling_shows_in_seed_only_below_the_expressed_genes(tmp_path, kang_counts):
    a = kang_counts[:80].copy()
    path = scmf.models.random_release("scgpt", tmp_path / "scgpt", genes=a)
    n_expressed = int(np.diff(a.X.tocsr().indptr).min())
    seen = {}
    for max_length in (32, a.n_vars + 2):
        b = a.copy()
        scmf.bm.invariance(
            b, {"scgpt": path}, checks=("seed",), n_cells=40, options={"max_length": max_length}
        )
        seen[max_length < n_expressed] = _metrics(b, "scgpt")["seed_cosine_mean"]
    # every gene read: only scGPT's random placement of a value within its expression bin is left
    assert seen[False] > 0.9999
    assert seen[True] < seen[False] - 5 * (1 - seen[False])  # a sample of 32 genes moves the cell far more


def test_bad_input_and_no_counts(kang, pbmc):
    with pytest.raises(ValueError, match="pass model="):
        scmf.bm.invariance(pbmc, use_rep="X_pca")
    with pytest.raises(ValueError, match="checks must be"):
        scmf.bm.invariance(pbmc, "pca", checks=("contxt",))
    with pytest.raises(ValueError, match="depth_fractions"):
        scmf.bm.invariance(pbmc, "pca", depth_fractions=(1.5,))
    with pytest.warns(UserWarning, match="depth check thins counts"):
        scmf.bm.invariance(kang.copy(), "pca", checks=("depth",), n_cells=100)  # log-normalised: no counts
    with pytest.raises(ValueError, match="two models share a name"):
        scmf.bm.invariance(pbmc, ["pca", "pca"])


def test_report_and_plot_draw_it(tmp_path, kang_counts):
    import matplotlib

    matplotlib.use("agg")
    a = kang_counts[:, :200].copy()
    scmf.bm.invariance(a, {"mix0": BatchMixer(a.n_vars, 0.0), "mix1": BatchMixer(a.n_vars, 1.0)},
                       checks=("context", "gene_order"), n_cells=150)  # fmt: skip
    axs = scmf.pl.invariance(a, show=False)
    assert [ax.get_title() for ax in axs] == ["context_other", "context_alone", "gene_order"]
    html = scmf.report(a, tmp_path / "r.html").read_text()
    sec = html.index('data-benchmark="invariance"')
    assert "<b>Measures behaviour</b>" in html[sec : sec + 3000]
    assert "per-cell cosine to its reference embedding" in html[sec:]


@pytest.mark.slow
def test_a_model_in_its_own_environment_and_a_dask_expression(tmp_path, kang_counts, monkeypatch):
    """An external command is re-embedded like any model (its contexts show); a lazy expression reads only the sample."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
    import test_external

    monkeypatch.setenv("SCMF_TRUSTED_MODELS", str(tmp_path))
    a = kang_counts[:120].copy()
    a.obs["donor"] = "d1"
    per_cell = test_external.folder_with(tmp_path / "a")
    in_context = test_external.folder_with(
        tmp_path / "b", extra=["--context", "{context}"], options={"context": 8}, context_option="context"
    )
    scmf.bm.invariance(
        a, {"per_cell": per_cell, "in_context": in_context}, checks=("context",), n_cells=40, n_alone=2
    )
    assert _metrics(a, "per_cell")["context_other_cosine_mean"] == pytest.approx(1.0, abs=1e-6)
    assert _metrics(a, "in_context")["context_other_cosine_mean"] < 0.999
    # the same benchmark on a lazily read file: the same numbers
    pytest.importorskip("dask")
    a.write_h5ad(tmp_path / "cells.h5ad")
    lazy = scmf.datasets.read_lazy(tmp_path / "cells.h5ad")
    scmf.bm.invariance(lazy, "pca", checks=("context", "gene_order"), n_cells=50, n_comps=10)
    scmf.bm.invariance(a, "pca", checks=("context", "gene_order"), n_cells=50, n_comps=10)
    want, got = _metrics(a, "pca"), _metrics(lazy, "pca")
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-5, abs=1e-6), k


def test_norman_baselines(norman):
    """On Norman's screen (log-normalised: no depth check) the refitted PCA moves with its batch-mates, not with the gene order."""
    a = norman.copy()
    scmf.bm.invariance(a, ["pca", "random"], cell_type_key="cell_type", checks=("context", "gene_order"),
                       n_cells=400, n_comps=20)  # fmt: skip
    pca, rnd = _metrics(a, "pca"), _metrics(a, "random")
    assert pca["context_other_cosine_mean"] < 0.95 and pca["context_own_type_cosine_mean"] < 0.95
    assert pca["gene_order_cosine_mean"] == pytest.approx(1.0, abs=1e-5)
    assert rnd["gene_order_cosine_mean"] == pytest.approx(1.0) and rnd["context_other_cosine_mean"] < 0.5
