"""Label efficiency: the full-pool budget equals scikit-learn fitted directly, curves rise with
the budget on real cells, draws are shared by the representations, and the figure."""

from __future__ import annotations

import numpy as np
import pytest

import scmf


@pytest.fixture(scope="module")
def evaluated(kang):
    a = kang.copy()
    scmf.tl.baselines(a, n_comps=20)
    scmf.bm.label_efficiency(
        a, "cell_type", use_rep=["X_pca_baseline", "X_random_baseline"], budgets=[1, 5, 25, "all"], n_draws=5,
        classifiers=["logistic", "knn"], max_test_cells=300,
    )  # fmt: skip
    return a


def test_all_budget_equals_sklearn(evaluated):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    a = evaluated
    y = np.unique(a.obs["cell_type"].astype(str), return_inverse=True)[1]
    pool, test = train_test_split(np.arange(a.n_obs), test_size=0.2, stratify=y, random_state=0)
    test, _ = train_test_split(test, train_size=300, stratify=y[test], random_state=0)
    X = a.obsm["X_pca_baseline"]
    sc = StandardScaler().fit(X[np.sort(pool)])
    pred = (
        LogisticRegression(max_iter=1000)
        .fit(sc.transform(X[np.sort(pool)]), y[np.sort(pool)])
        .predict(sc.transform(X[test]))
    )
    r = scmf._store.get(a, "label_efficiency", rep="X_pca_baseline")
    assert r.metrics["accuracy_logistic_all"] == pytest.approx(accuracy_score(y[test], pred), abs=1e-12)
    assert r.metrics["f1_macro_logistic_all"] == pytest.approx(
        f1_score(y[test], pred, average="macro"), abs=1e-12
    )
    assert r.metadata["n_test"] == 300 and r.metadata["cells_per_budget"]["1"] == 7  # one per type


def test_curves_rise_and_draws_are_paired(evaluated):
    t = scmf.bm.results(evaluated).set_index(["rep", "metric"])["value"]
    for clf in ("logistic", "knn"):
        curve = [t["X_pca_baseline", f"accuracy_{clf}_{b}"] for b in (1, 5, 25, "all")]
        assert curve[0] < curve[1] < curve[2] <= curve[3] + 0.02, (clf, curve)  # more labels help
        assert t["X_pca_baseline", f"accuracy_{clf}_25"] > t["X_random_baseline", f"accuracy_{clf}_25"] + 0.3
    reps = scmf.bm.results(evaluated, replicates=True).set_index(["rep", "metric"])["replicates"]
    assert len(reps["X_pca_baseline", "accuracy_logistic_5"]) == 5
    c = scmf.bm.compare(evaluated, baseline="X_random_baseline").set_index("metric")
    assert c.loc["accuracy_logistic_25", "test"] == "corrected resampled t-test"
    assert bool(c.loc["accuracy_logistic_25", "better"])
    assert np.isnan(c.loc["accuracy_logistic_all", "p_value"])  # one draw: nothing to test


def test_figure(evaluated):
    ax = scmf.pl.label_efficiency(evaluated, classifier="knn", show=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "5", "25", "all"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["X_pca_baseline (baseline)", "X_random_baseline (baseline)"]
    assert len(ax.lines) >= 2


def test_bad_input(pbmc):
    with pytest.raises(ValueError, match="positive integers"):
        scmf.bm.label_efficiency(pbmc, "bulk_labels", use_rep="X_pca_baseline", budgets=[0, 5])
    with pytest.raises(ValueError, match="cz_label_prediction"):
        scmf.bm.label_efficiency(pbmc, "bulk_labels", use_rep="X_pca_baseline", classifiers=["random_forest"])
    with pytest.raises(ValueError, match="classifiers must be among"):
        scmf.bm.label_efficiency(pbmc, "bulk_labels", use_rep="X_pca_baseline", classifiers=["svm"])


def test_figure_with_logistic_and_l1_logistic(pbmc):
    """``accuracy_logistic_`` also starts ``accuracy_logistic_l1_...``: the logistic curve reads only its own budgets."""
    scmf.bm.label_efficiency(
        pbmc,
        "bulk_labels",
        use_rep="X_pca_baseline",
        budgets=[2, 5],
        n_draws=2,
        classifiers=["logistic", "logistic_l1"],
    )
    ax = scmf.pl.label_efficiency(pbmc, show=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "5"]
    stored = scmf.bm.results(pbmc).set_index("metric")["value"]
    assert list(ax.lines[0].get_ydata()) == [stored["accuracy_logistic_2"], stored["accuracy_logistic_5"]]
