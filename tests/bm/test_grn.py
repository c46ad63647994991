from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

import scmf
from scmf import _store
from scmf.bm._grn import read_network


@pytest.fixture(scope="module")
def dorothea(data_dir):
    return data_dir / "dorothea_hs.tsv.gz"


@pytest.fixture
def kang_pca(kang):
    adata = kang.copy()
    scmf.tl.baselines(adata, n_comps=30, seed=0)
    return adata


def _reference_scores(adata, rep, net, min_cells, center=True):
    """The guide's gene representation with a per-gene loop, cosine by hand, all (TF, gene) pairs."""
    X = adata.X.tocsc()
    E = adata.obsm[rep].astype(np.float64)
    reps, keep = {}, []
    for g, name in enumerate(adata.var_names):
        cells = X.indices[X.indptr[g] : X.indptr[g + 1]][X.data[X.indptr[g] : X.indptr[g + 1]] > 0]
        if cells.size >= min_cells:
            reps[name] = E[cells].mean(axis=0)
            keep.append(name)
    R = np.array([reps[g] for g in keep])
    if center:
        R = R - R.mean(axis=0)
    U = R / np.linalg.norm(R, axis=1, keepdims=True)
    pos = {g: i for i, g in enumerate(keep)}
    edges = {(s, t) for s, t in zip(net["source"], net["target"], strict=True) if s in pos and t in pos}
    tfs = sorted({s for s, _ in edges}, key=pos.get)
    y, score = [], []
    for tf in tfs:
        sims = U @ U[pos[tf]]
        for g in keep:
            if g != tf:
                y.append((tf, g) in edges)
                score.append(sims[pos[g]])
    return np.array(y), np.array(score), len(keep)


def test_equals_per_gene_reference_on_kang_dorothea(kang_pca, dorothea):
    net = read_network(dorothea)
    scmf.bm.grn_inference(kang_pca, dorothea, use_rep="X_pca_baseline")
    r = _store.get(kang_pca, "grn_inference")
    y, score, n_genes = _reference_scores(kang_pca, "X_pca_baseline", net, 10)
    assert r.metadata["n_genes_evaluated"] == n_genes
    assert r.metadata["n_pairs_scored"] == y.size and r.metadata["n_positive"] == y.sum()
    # the float32 embedding's per-block partial sums are float32 (~1e-7 relative): a pair whose
    # two scores are that close may swap ranks, which moves the metrics by ~1e-9, not more
    assert r.metrics["auroc"] == pytest.approx(roc_auc_score(y, score), abs=1e-7)
    ap = average_precision_score(y, score)
    assert r.metrics["auprc"] == pytest.approx(ap, abs=1e-7)
    assert r.metrics["auprc_ratio"] == pytest.approx(ap / y.mean(), rel=1e-6)
    top = np.argsort(-score, kind="stable")[: y.sum()]
    assert r.metrics["epr"] == pytest.approx(y[top].mean() / y.mean(), rel=1e-6)
    assert r.metadata["negatives"] == "all"


def test_pca_beats_random_and_centering_matters(kang_pca, dorothea):
    reps = ["X_pca_baseline", "X_random_baseline"]
    scmf.bm.grn_inference(kang_pca, dorothea, use_rep=reps)
    auroc = scmf.bm.results(kang_pca).query("metric == 'auroc'").set_index("rep")["value"]
    assert auroc["X_pca_baseline"] > auroc["X_random_baseline"] + 0.02
    assert abs(auroc["X_random_baseline"] - 0.5) < 0.03  # chance
    r = _store.get(kang_pca, "grn_inference", rep="X_pca_baseline")
    assert r.artifacts["chance"] == pytest.approx(r.metadata["positive_rate"])
    assert r.artifacts["roc"]["fpr"].size <= 500 and r.artifacts["roc"]["fpr"][-1] == 1.0


def test_guide_tsv_with_negatives_and_sampling(kang_pca, tmp_path):
    genes = list(kang_pca.var_names[kang_pca.X.getnnz(axis=0) > 50][:40])
    rng = np.random.default_rng(0)
    rows = [
        (genes[i], genes[j], float(w))
        for i, j, w in zip(
            rng.integers(0, 40, 120), rng.integers(0, 40, 120), rng.choice([-1.0, 0.0, 0.7], 120), strict=True
        )
    ]
    df = pd.DataFrame(rows, columns=["gene1", "gene2", "weight"])
    df.to_csv(tmp_path / "net.tsv", sep="\t", index=False)
    scmf.bm.grn_inference(
        kang_pca, network_path=tmp_path / "net.tsv", use_rep="X_pca_baseline", dataset_name="listed"
    )
    r = _store.get(kang_pca, "grn_inference", dataset="listed")
    net = read_network(df)
    assert r.metadata["negatives"] == "network"
    assert r.metadata["n_pairs_scored"] == len(net)
    assert r.metadata["n_positive"] == int(net["positive"].sum())
    # sampled negatives: reproducible with the seed, different with another
    kw = {"use_rep": "X_pca_baseline", "negatives": "sampled", "n_negatives": 5}
    a = scmf.bm.grn_inference(kang_pca, df[df.weight > 0], inplace=False, seed=1, **kw)
    b = scmf.bm.grn_inference(kang_pca, df[df.weight > 0], inplace=False, seed=1, **kw)
    c = scmf.bm.grn_inference(kang_pca, df[df.weight > 0], inplace=False, seed=2, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert not a["value"].equals(c["value"])


def test_reader_formats_and_filters(dorothea, tmp_path):
    all_rows = read_network(dorothea, confidence=None)
    abc = read_network(dorothea)
    a_only = read_network(dorothea, confidence=["A"])
    assert len(a_only) < len(abc) < len(all_rows)
    raw = pd.read_csv(dorothea, sep="\t")
    sub = raw[raw.confidence.isin(["A", "B", "C"])]
    assert len(abc) == len(sub.drop_duplicates(["tf", "target"]).query("tf != target"))
    assert abc["positive"].all()
    renamed = raw.rename(columns={"tf": "regulator_id", "target": "gene_id"})
    got = read_network(renamed, source_col="regulator_id", target_col="gene_id")
    pd.testing.assert_frame_equal(got, abc)
    data = dorothea.read_bytes()
    (tmp_path / "cut.tsv.gz").write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="truncated"):
        read_network(tmp_path / "cut.tsv.gz")
    with pytest.raises(ValueError, match="source_col"):
        read_network(pd.DataFrame({"a": ["x"], "b": ["y"]}))


def test_no_evaluable_edges_names_the_overlap(kang_pca, gf_vocab):
    sym2ens = dict(zip(gf_vocab.symbol, gf_vocab.ensembl, strict=True))
    net = pd.DataFrame({"tf": ["STAT1", "IRF1"], "target": ["ISG15", "IFIT1"]})
    ens = net.map(lambda s: sym2ens[s])
    with pytest.raises(ValueError, match="network uses Ensembl ids and the data symbols"):
        scmf.bm.grn_inference(kang_pca, ens, use_rep="X_pca_baseline")
    kang_pca.var["ensembl"] = [sym2ens.get(s, s) for s in kang_pca.var_names]
    out = scmf.bm.grn_inference(
        kang_pca, ens, use_rep="X_pca_baseline", gene_key="ensembl", inplace=False, min_cells=1
    )
    assert set(out["metric"]) == {"auroc", "auprc", "auprc_ratio", "epr"}
    with pytest.raises(ValueError, match="lower min_cells"):
        scmf.bm.grn_inference(kang_pca, net, use_rep="X_pca_baseline", min_cells=10_000)
    with pytest.raises(TypeError, match="needs a network"):
        scmf.bm.grn_inference(kang_pca, use_rep="X_pca_baseline")


def test_roundtrip(kang_pca, dorothea, tmp_path):
    scmf.bm.grn_inference(kang_pca, dorothea, use_rep="X_pca_baseline")
    kang_pca.write_h5ad(tmp_path / "g.h5ad")
    back = ad.read_h5ad(tmp_path / "g.h5ad")
    pd.testing.assert_frame_equal(scmf.bm.results(back), scmf.bm.results(kang_pca))
    np.testing.assert_array_equal(
        _store.get(back, "grn_inference").artifacts["pr"]["precision"],
        _store.get(kang_pca, "grn_inference").artifacts["pr"]["precision"],
    )


@pytest.mark.parametrize("source", ["backed", "dask"])
def test_backed_and_dask_read_in_blocks_give_the_in_memory_result(
    kang_pca, dorothea, tmp_path, monkeypatch, source
):
    """A backed file (or a Dask array) is read a block of rows at a time, never whole, with the
    same result as in memory (blocks small here, so that many are read)."""
    from scmf import _expression
    from scmf._kernels import _grn

    monkeypatch.setattr(_grn, "_BLOCK_BYTES", 2**12)  # cell blocks of 34 rows, here and in memory
    scmf.bm.grn_inference(kang_pca, dorothea, use_rep=["X_pca_baseline", "X_random_baseline"])
    want = scmf.bm.results(kang_pca).set_index(["rep", "metric"])["value"]
    path = tmp_path / "kang.h5ad"
    kang_pca.uns.pop("scmf_bench")
    kang_pca.write_h5ad(path)
    if source == "backed":
        adata = ad.read_h5ad(path, backed="r")
    else:
        import dask.array as da

        adata = ad.read_h5ad(path)
        adata.X = da.from_array(adata.X.toarray(), chunks=(300, -1))
    read = []
    real = _expression.rows_csr

    def rows_csr(X, start, stop):
        read.append(stop - start)
        return real(X, start, stop)

    monkeypatch.setattr(_expression, "ROW_BLOCK_BYTES", 2**16)
    monkeypatch.setattr(_expression, "rows_csr", rows_csr)
    scmf.bm.grn_inference(adata, dorothea, use_rep=["X_pca_baseline", "X_random_baseline"])
    got = scmf.bm.results(adata).set_index(["rep", "metric"])["value"]
    assert len(read) > 10 and max(read) < adata.n_obs  # many blocks, none of them the whole matrix
    assert sum(read) == 3 * adata.n_obs  # once for the counts, once per representation
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), rtol=0, atol=1e-9)
    if source == "backed":
        assert adata.isbacked and adata.file.is_open
