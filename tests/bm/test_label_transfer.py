"""Label transfer: scores equal scikit-learn's, a known answer for unseen types and label maps,
and both ways of naming the reference (another object, or a context of one)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scmf
from scmf.bm._metrics._classifiers import confusion_scores


def test_confusion_scores_equal_sklearn():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

    rng = np.random.default_rng(0)
    for k in (2, 5, 9):
        y = rng.integers(0, k, 300)
        p = np.where(rng.random(300) < 0.6, y, rng.integers(0, k, 300))
        p[p == k - 1] = 0  # a class never predicted
        got = confusion_scores(confusion_matrix(y, p, labels=np.arange(k)))
        assert got["accuracy"] == pytest.approx(accuracy_score(y, p))
        assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p))
        assert got["f1_macro"] == pytest.approx(f1_score(y, p, average="macro", zero_division=0))
        assert got["f1_weighted"] == pytest.approx(f1_score(y, p, average="weighted", zero_division=0))


def _blobs(types, n=40, seed=0):
    rng = np.random.default_rng(seed)
    centre = {"A": (0, 0), "B": (10, 0), "a": (0, 0), "C": (10, 0.5)}  # C sits on B's cluster
    X = np.vstack([rng.normal(centre[t], 0.5, size=(n, 2)) for t in types]).astype(np.float32)
    obs = pd.DataFrame(
        {"cell_type": np.repeat(types, n)}, index=[f"{seed}_{i}" for i in range(n * len(types))]
    )
    return ad.AnnData(obs=obs, obsm={"X_emb": X})


@pytest.mark.filterwarnings("always::scmf.ScmfWarning")
def test_known_answer_unseen_types_and_label_map():
    ref, query = _blobs(["A", "B"]), _blobs(["a", "B", "C"], seed=1)
    with pytest.warns(scmf.ScmfWarning, match=r"40 query cells have types the reference lacks \(C\)"):
        scmf.bm.label_transfer(
            ref, "cell_type", query=query, use_rep="X_emb", label_map={"a": "A"}, n_bootstrap=20
        )
    r = scmf._store.get(query, "label_transfer", rep="X_emb")
    assert r.metrics["accuracy"] == 1.0 and r.metrics["f1_macro"] == 1.0  # "a" counted as "A", C not an error
    assert r.metadata["n_query_scored"] == 80 and r.metadata["n_query_unseen_types"] == 40
    unseen = r.artifacts["unseen_predicted_as"]
    assert (
        list(unseen["type"]) == ["C"]
        and list(unseen["predicted"]) == ["B"]
        and list(unseen["n_cells"]) == [40]
    )
    assert "label_transfer" not in ref.uns.get("scmf_bench", {})  # stored on the query only
    with pytest.raises(ValueError, match="map the query's labels"):
        scmf.bm.label_transfer(ref, "cell_type", query=_blobs(["C"], seed=2), use_rep="X_emb")


def test_split_mode_equals_sklearn_on_kang(kang):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    a = kang.copy()
    scmf.tl.baselines(a, n_comps=20)
    reps = ["X_pca_baseline", "X_random_baseline"]
    for clf in ("logistic", "knn"):
        b = a.copy()
        scmf.bm.label_transfer(
            b,
            "cell_type",
            split_key="condition",
            reference="control",
            use_rep=reps,
            classifier=clf,
            n_bootstrap=50,
        )
        t = scmf.bm.results(b).set_index(["rep", "metric"])["value"]
        X = a.obsm["X_pca_baseline"]
        tr, te = (a.obs["condition"] == "control").to_numpy(), (a.obs["condition"] == "stimulated").to_numpy()
        sc = StandardScaler().fit(X[tr])
        model = (
            LogisticRegression(max_iter=1000) if clf == "logistic" else KNeighborsClassifier(n_neighbors=5)
        )
        pred = model.fit(sc.transform(X[tr]), a.obs["cell_type"][tr]).predict(sc.transform(X[te]))
        truth = a.obs["cell_type"][te]
        assert t["X_pca_baseline", "accuracy"] == pytest.approx(accuracy_score(truth, pred), abs=1e-12)
        assert t["X_pca_baseline", "f1_macro"] == pytest.approx(
            f1_score(truth, pred, average="macro"), abs=1e-12
        )
        assert t["X_pca_baseline", "accuracy"] > t["X_random_baseline", "accuracy"] + 0.3
        per = scmf._store.get(b, "label_transfer", rep="X_pca_baseline").artifacts["per_query_value"]
        assert list(per["value"]) == ["stimulated"] and list(per["n_cells"]) == [te.sum()]
        assert per["accuracy"][0] == pytest.approx(t["X_pca_baseline", "accuracy"])
        c = scmf.bm.compare(b, baseline="X_random_baseline").set_index("metric")
        assert c.loc["accuracy", "test"] == "paired bootstrap" and bool(c.loc["accuracy", "better"])
        lo, hi = (
            scmf.bm.results(b)
            .set_index(["rep", "metric"])
            .loc[("X_pca_baseline", "accuracy"), ["ci_low", "ci_high"]]
        )
        assert lo <= t["X_pca_baseline", "accuracy"] <= hi


def test_refusals(pbmc):
    with pytest.raises(ValueError, match="needs where to train"):
        scmf.bm.label_transfer(pbmc, "bulk_labels", use_rep="X_pca_baseline")
    with pytest.raises(ValueError, match="not a value of obs"):
        scmf.bm.label_transfer(
            pbmc, "bulk_labels", split_key="phase", reference="M", use_rep="X_pca_baseline"
        )
    q = pbmc[:100].copy()
    q.obsm["X_pca_baseline"] = q.obsm["X_pca_baseline"][:, :10]
    with pytest.raises(ValueError, match="not the same model"):
        scmf.bm.label_transfer(pbmc, "bulk_labels", query=q, use_rep="X_pca_baseline")
    q = pbmc[:100].copy()
    scmf.tl.embed(q, "pca", n_comps=30, seed=5, key_added="X_pca_baseline")
    with pytest.raises(ValueError, match=r"different settings .*seed"):
        scmf.bm.label_transfer(pbmc, "bulk_labels", query=q, use_rep="X_pca_baseline")
    with pytest.raises(ValueError, match="not both"):
        scmf.bm.label_transfer(
            pbmc, "bulk_labels", query=q, split_key="phase", reference="G1", use_rep="X_pca_baseline"
        )


def test_query_file_and_config(tmp_path, pbmc):
    """A query given as a file; the benchmark runs from a config like any other (split mode)."""
    a, b = pbmc[pbmc.obs["phase"] == "G1"].copy(), pbmc[pbmc.obs["phase"] != "G1"].copy()
    b.write_h5ad(tmp_path / "q.h5ad")
    table = scmf.bm.label_transfer(a, "bulk_labels", query=tmp_path / "q.h5ad", use_rep="X_pca_baseline",
                                   inplace=False, n_bootstrap=0)  # fmt: skip
    whole = pbmc.copy()
    scmf.bm.label_transfer(
        whole, "bulk_labels", split_key="phase", reference="G1", use_rep="X_pca_baseline", n_bootstrap=0
    )
    same = scmf.bm.results(whole).set_index("metric")["value"]
    assert table.set_index("metric")["value"].to_dict() == pytest.approx(same.to_dict())
    report = scmf.bm.evaluate(
        {"pbmc": pbmc.copy()},
        [{"name": "label_transfer", "params": {"label_key": "bulk_labels", "split_key": "phase", "reference": "G1"}}],
        use_rep="X_pca_baseline", progress=False,
    )  # fmt: skip
    assert report.results().set_index("metric")["value"]["accuracy"] == pytest.approx(same["accuracy"])
