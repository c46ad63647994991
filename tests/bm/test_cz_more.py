"""cz's cross-species, sequential and perturbation tasks: every value equals cz-benchmarks' own task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scmf
from scmf import _store

cz = pytest.importorskip("czbenchmarks.tasks")
from czbenchmarks.datasets.types import Organism  # noqa: E402
from czbenchmarks.tasks import single_cell as cz_sc  # noqa: E402
from czbenchmarks.tasks.task import PCABaselineInput  # noqa: E402


@pytest.fixture
def two_species(kang):
    """Kang's control cells labelled human, its stimulated cells mouse: two 'organisms', shared cell types."""
    adata = kang.copy()
    scmf.tl.baselines(adata, n_comps=20, seed=0)
    adata.obs["organism"] = adata.obs["condition"].map({"control": "Homo sapiens", "stimulated": "mouse"})
    return adata


def _split(adata, rep):
    parts = [np.flatnonzero(adata.obs["organism"].to_numpy() == o) for o in ("Homo sapiens", "mouse")]
    X = adata.obsm[rep]
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    return [np.ascontiguousarray(X[p]) for p in parts], [labels[p] for p in parts]


@pytest.mark.slow
def test_cross_species_integration_equals_cz(two_species):
    scmf.bm.cz_cross_species_integration(two_species, "cell_type", use_rep="X_pca_baseline", seed=1)
    r = _store.get(two_species, "cz_cross_species_integration")
    embs, labels = _split(two_species, "X_pca_baseline")
    inp = cz_sc.CrossSpeciesIntegrationTaskInput(
        labels=labels, organism_list=[Organism.HUMAN, Organism.MOUSE]
    )
    direct = {
        m.metric_type.value: m.value for m in cz_sc.CrossSpeciesIntegrationTask(random_seed=1).run(embs, inp)
    }
    assert r.metrics["batch_silhouette"] == direct["batch_silhouette"]
    # cz's HNSW graph is built with all threads: its entropy varies slightly from run to run
    assert r.metrics["entropy_per_cell"] == pytest.approx(direct["entropy_per_cell"], rel=1e-3)
    assert list(r.metadata["organisms"]) == ["homo_sapiens", "mus_musculus"]
    assert list(r.metadata["n_cells_per_organism"]) == [int(e.shape[0]) for e in embs]


@pytest.mark.slow
def test_cross_species_label_prediction_equals_cz(two_species):
    scmf.bm.cz_cross_species_label_prediction(two_species, "cell_type", use_rep="X_pca_baseline", n_folds=3)
    got = _store.get(two_species, "cz_cross_species_label_prediction").metrics
    embs, labels = _split(two_species, "X_pca_baseline")
    inp = cz_sc.CrossSpeciesLabelPredictionTaskInput(
        labels=labels, organisms=[Organism.HUMAN, Organism.MOUSE], aggregation_method="none", n_folds=3
    )
    rows = cz_sc.CrossSpeciesLabelPredictionTask(random_seed=42).run(embs, inp)
    assert len(got) == len(rows) + 5  # every cz row kept, plus the five cross-species means
    for r in rows:
        p = r.params
        base = r.metric_type.value.removeprefix("mean_fold_")
        clf = "" if p["classifier"].startswith("MEAN(") else f"_{p['classifier']}"
        assert got[f"{base}{clf}_{p['train_species']}_to_{p['test_species']}"] == r.value
    cross = [got["accuracy_homo_sapiens_to_mus_musculus"], got["accuracy_mus_musculus_to_homo_sapiens"]]
    assert got["accuracy"] == pytest.approx(np.mean(cross))
    assert 0.5 < got["accuracy"] <= 1.0  # cell types transfer between the two halves of Kang


@pytest.mark.slow
def test_cross_species_bad_input(two_species):
    one = two_species.copy()
    one.obs["organism"] = "human"
    with pytest.raises(ValueError, match="at least 2 organisms"):
        scmf.bm.cz_cross_species_integration(one, "cell_type", use_rep="X_pca_baseline")
    odd = two_species.copy()
    odd.obs["organism"] = odd.obs["organism"].astype(str).replace("mouse", "martian")
    with pytest.raises(ValueError, match="'martian' is not an organism"):
        scmf.bm.cz_cross_species_integration(odd, "cell_type", use_rep="X_pca_baseline")
    with pytest.raises(ValueError, match="pass sample_key"):
        scmf.bm.cz_cross_species_label_prediction(
            two_species, "cell_type", use_rep="X_pca_baseline", aggregation="mean"
        )
    with pytest.raises(KeyError, match="organism_key='species'"):
        scmf.bm.cz_cross_species_integration(
            two_species, "cell_type", organism_key="species", use_rep="X_pca_baseline"
        )


@pytest.fixture
def phases(pbmc):
    """pbmc68k's cell-cycle phases as an ordered time course; X the log-normalised expression (.raw)."""
    import anndata as ad

    adata = ad.AnnData(pbmc.raw.X.copy(), obs=pbmc.obs.copy(), var=pbmc.raw.var.copy())
    adata.obsm["X_pca"] = pbmc.obsm["X_pca"].copy()
    adata.obs["stage"] = pd.Categorical(adata.obs["phase"], categories=["G1", "S", "G2M"], ordered=True)
    return adata


@pytest.mark.parametrize("kw", [{}, {"k": 7, "normalize": False, "adaptive_k": True}])
def test_sequential_equals_cz_with_baseline(phases, kw):
    scmf.bm.cz_sequential_organization(phases, "stage", use_rep="X_pca", baseline=True, **kw)
    times = phases.obs["stage"].cat.codes.to_numpy().astype(float)
    for rep in ("X_pca", "cz_pca_baseline"):
        got = _store.get(phases, "cz_sequential_organization", rep=rep).metrics
        task = cz.SequentialOrganizationTask(random_seed=42)
        inp = cz.SequentialOrganizationTaskInput(
            obs=pd.DataFrame({"stage": times}, index=phases.obs_names), input_labels=times, **kw
        )
        if rep == "X_pca":
            X = np.ascontiguousarray(phases.obsm["X_pca"])
        else:
            np.random.seed(42)  # noqa: NPY002
            X = task.compute_baseline(phases.X.copy(), PCABaselineInput())
        np.random.seed(42)  # cz's random-neighbour expectation draws from the global state; scmf seeds it  # noqa: NPY002
        direct = {m.metric_type.value: m.value for m in task.run(X, inp)}
        assert got == direct
    assert "cz_pca_baseline" not in phases.obsm
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    scmf.bm.cz_sequential_organization(phases, "stage", use_rep="X_pca", inplace=False)
    assert (np.random.get_state()[1] == state).all()  # the user's global random state is left as it was  # noqa: NPY002


def test_sequential_time_column_checks(phases):
    with pytest.raises(ValueError, match="not ordered"):
        scmf.bm.cz_sequential_organization(phases, "phase", use_rep="X_pca")
    with pytest.raises(ValueError, match="no order"):
        scmf.bm.cz_sequential_organization(phases.copy(), "bulk_labels", use_rep="X_pca")
    numeric = phases.copy()
    numeric.obs["day"] = numeric.obs["stage"].cat.codes.astype(float) * 2.0  # days 0, 2, 4
    numeric.obs.loc[numeric.obs_names[:5], "day"] = np.nan
    scmf.bm.cz_sequential_organization(numeric, "day", use_rep="X_pca")  # cells without a day left out
    r = _store.get(numeric, "cz_sequential_organization")
    assert r.metadata["n_cells"] == numeric.n_obs - 5
    assert list(r.metadata["time_points"]) == ["0.0", "2.0", "4.0"]


@pytest.fixture
def kang_ifn(kang):
    """Kang's IFN-beta stimulation as a perturbation, one condition per cell type (its own controls)."""
    adata = kang.copy()
    scmf.tl.baselines(adata, n_comps=20, seed=0)
    return adata


KW = {"perturbation_key": "condition", "control_label": "control", "context_key": "cell_type"}


def _uns_direct(adata, seed=42):
    """cz's task inputs built from scanpy and cz directly (the control draw by scmf's own helper)."""
    import scanpy as sc
    from czbenchmarks.datasets.single_cell_perturbation import sample_de_genes

    from scmf.bm._cz_perturbation import _control_map

    ctx = adata.obs["cell_type"].astype(str).to_numpy()
    cond = adata.obs["condition"].astype(str).to_numpy()
    cond = np.where(cond == "control", cond, [f"{c} ({t})" for c, t in zip(cond, ctx, strict=True)])
    parts = []
    for t in np.unique(ctx):
        sub = adata[ctx == t].copy()
        sub.obs["c"] = pd.Categorical(cond[ctx == t])
        sc.tl.rank_genes_groups(sub, "c", reference="control", method="wilcoxon")
        df = sc.get.rank_genes_groups_df(sub, group=None)
        if "group" not in df.columns:
            df.insert(0, "group", f"stimulated ({t})")
        parts.append(df)
    de = pd.concat(parts, ignore_index=True).rename(
        columns={"group": "condition", "names": "gene_id", "logfoldchanges": "logfoldchange"}
    )
    de = de[(de["pvals_adj"] < 1e-4) & (de["logfoldchange"].abs() >= 1.0)]
    de = de[["condition", "gene_id", "logfoldchange"]].reset_index(drop=True)
    targets = sample_de_genes(de, 0.5, 5, condition_col="condition", gene_col="gene_id", seed=seed)
    names = np.asarray(adata.obs_names, dtype=str)
    cmap = _control_map(names, cond, cond == "control", ctx, seed)
    uns = {
        "de_results": de,
        "metric_column": "logfoldchange",
        "control_cells_map": cmap,
        "target_conditions_dict": targets,
        "config": {"condition_key": "condition"},
    }
    return uns, de


def _per_condition(r):
    a = r.artifacts["per_condition"]
    return dict(zip(a["condition"], a["spearman"], strict=True))


RATIO_FALLBACK = "ignore:cz_perturbation_expression_prediction. cz-benchmarks says. Negative values:scmf._warnings.ScmfWarning"
#: Kang's perturbation is a stimulation, no gene: the gene-based predictors cannot score it (said, asserted below)
NO_GENE = "ignore:cz_perturbation_expression_prediction.*perturb no measured gene:scmf._warnings.ScmfWarning"


@pytest.mark.slow
@pytest.mark.filterwarnings(RATIO_FALLBACK)  # cz's own notice that a mean prediction is not positive
@pytest.mark.filterwarnings(NO_GENE)
def test_perturbation_expression_prediction_equals_cz(kang_ifn):
    adata = kang_ifn
    uns, de = _uns_direct(adata)
    # a prediction whose log ratio of means is exactly the measured fold change: Spearman 1
    exact = np.ones(adata.shape)
    col = pd.Index(adata.var_names)
    rows = pd.Index(adata.obs_names)
    for cond, mapping in uns["control_cells_map"].items():
        lfc = de[de["condition"] == cond].set_index("gene_id")["logfoldchange"]
        exact[np.ix_(rows.get_indexer(list(mapping)), col.get_indexer(lfc.index))] = np.exp(lfc.to_numpy())
    adata.layers["exact"] = exact
    adata.layers["measured"] = adata.X.toarray()
    scmf.bm.cz_perturbation_expression_prediction(
        adata, use_rep=["X_pca_baseline", "X_random_baseline"], predicted_layer="measured", **KW
    )
    scmf.bm.cz_perturbation_expression_prediction(
        adata, use_rep="X_pca_baseline", predicted_layer="exact", **KW
    )
    holder = adata.copy()
    holder.uns.update(uns)
    inp = cz_sc.PerturbationExpressionPredictionTaskInput(adata=holder, pred_effect_operation="ratio")
    for layer in ("measured", "exact"):
        direct = cz_sc.PerturbationExpressionPredictionTask(random_seed=42).run(adata.layers[layer], inp)
        r = _store.get(adata, "cz_perturbation_expression_prediction", rep=f"layer:{layer}")
        assert _per_condition(r) == {m.params["condition"]: m.value for m in direct}
        assert r.metrics["spearman"] == pytest.approx(np.mean([m.value for m in direct]), abs=1e-12)
    assert (
        _store.get(adata, "cz_perturbation_expression_prediction", rep="layer:exact").metrics["spearman"]
        == 1.0
    )
    r = _store.get(adata, "cz_perturbation_expression_prediction", rep="layer:measured")
    assert r.metadata["n_conditions_scored"] == len(uns["target_conditions_dict"]) >= 5
    assert list(r.params) and r.params["control_label"] == "control"
    # a stimulation names no gene: nothing predicts it from before the experiment, and nothing is scored
    r = _store.get(adata, "cz_perturbation_expression_prediction", rep="X_pca_baseline")
    assert r.metrics["coverage"] == 0.0 and np.isnan(r.metrics["spearman"])


@pytest.mark.slow
@pytest.mark.filterwarnings(RATIO_FALLBACK)
@pytest.mark.filterwarnings(NO_GENE)
def test_perturbation_expression_prediction_shuffled_scores_near_zero(kang_ifn):
    adata = kang_ifn
    rng = np.random.default_rng(0)
    adata.layers["noise"] = rng.uniform(1.0, 2.0, adata.shape)  # positive: cz's ratio, no fallback
    scmf.bm.cz_perturbation_expression_prediction(
        adata, use_rep="X_pca_baseline", predicted_layer="noise", **KW
    )
    r = _store.get(adata, "cz_perturbation_expression_prediction", rep="layer:noise")
    assert abs(r.metrics["spearman"]) < 0.2
    # the layer alone (use_rep=None) on data with no embedding at all: the same score
    bare = adata.copy()
    bare.obsm.clear()
    bare.uns.pop("scmf_bench", None)
    scmf.bm.cz_perturbation_expression_prediction(bare, use_rep=None, predicted_layer="noise", **KW)
    alone = scmf.bm.results(bare)
    assert set(alone["rep"]) == {"layer:noise", "linear"}  # the linear reference is always beside
    assert _store.get(bare, "cz_perturbation_expression_prediction", rep="layer:noise").metrics == r.metrics


def test_control_map_stays_in_context():
    from scmf.bm._cz_perturbation import _control_map

    names = np.array([f"c{i}" for i in range(12)])
    pert = np.array(["control"] * 4 + ["A"] * 4 + ["B"] * 4)
    ctx = np.array(["x", "x", "y", "y"] * 3)
    cmap = _control_map(names, pert, pert == "control", ctx, seed=0)
    where = dict(zip(names, ctx, strict=True))
    assert set(cmap) == {"A", "B"}
    for mapping in cmap.values():
        assert len(mapping) == 4
        assert all(where[t] == where[c] and c in names[:4] for t, c in mapping.items())


@pytest.mark.slow
@pytest.mark.filterwarnings(NO_GENE)
def test_perturbation_expression_prediction_bad_input(kang_ifn):
    run = scmf.bm.cz_perturbation_expression_prediction
    with pytest.raises(ValueError, match="control_label='ctrl' is not a value"):
        run(kang_ifn, use_rep="X_pca_baseline", **{**KW, "control_label": "ctrl"})
    with pytest.raises(ValueError, match="no gene passes"):
        run(kang_ifn, use_rep="X_pca_baseline", min_logfoldchange=50, **KW)
    with pytest.raises(KeyError, match="predicted_layer='pred'"):
        run(kang_ifn, use_rep="X_pca_baseline", predicted_layer="pred", **KW)
    with pytest.warns(UserWarning, match="perturb no measured gene"):
        run(kang_ifn, use_rep=None, **KW)  # the linear reference alone, which cannot cover a stimulation
    assert (
        _store.get(kang_ifn, "cz_perturbation_expression_prediction", rep="linear").metrics["coverage"] == 0
    )
    with pytest.raises(KeyError, match="embed_genes"):
        run(kang_ifn, gene_rep="X_nope", **KW)
    with pytest.raises(ValueError, match="at least n_folds=5 perturbations"):
        run(kang_ifn, "condition", use_rep="X_pca_baseline")  # one condition without contexts
    dup = kang_ifn.copy()
    dup.obs_names = ["x"] * dup.n_obs
    with pytest.raises(ValueError, match="obs_names_make_unique"):
        run(dup, use_rep="X_pca_baseline", **KW)


def test_every_cz_task_is_listed(capsys):
    import czbenchmarks.tasks as tasks

    from scmf.bm._cz import CZ_TASKS
    from scmf.cli import main

    registered = {n for n in scmf.bm.benchmarks() if n.startswith("cz_")}
    assert registered == set(CZ_TASKS)
    # the eight single-cell tasks of cz-benchmarks, every one run by scmf
    own = {t for t in dir(tasks) if t.endswith("Task") and t != "Task"} | {
        t for t in dir(cz_sc) if t.endswith("Task")
    }
    assert {task for task, _, _ in CZ_TASKS.values()} == own
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, (task, _, base) in CZ_TASKS.items():
        assert f"{name}: {task}" in out and base in out


def _toy_screen():
    adata = scmf.datasets.toy_perturbation(n_perturbations=20, target_genes=True, seed=11)
    scmf.tl.baselines(adata, n_comps=10)
    adata.obsm["X_expr"] = np.asarray(adata.X, dtype=np.float64)
    adata.varm["genes_random"] = np.random.default_rng(0).normal(size=(adata.n_vars, 6))
    return adata


TOY_KW = {"min_logfoldchange": 0.5, "pred_effect_operation": "difference"}


@pytest.mark.slow
def test_perturbation_expression_prediction_never_sees_the_condition_it_predicts():
    """A condition's cells replaced by control cells: its own prediction does not move (cross-fitted)."""
    reps = ["X_pca_baseline", "X_random_baseline", "X_expr"]
    adata = _toy_screen()
    run = scmf.bm.cz_perturbation_expression_prediction
    run(adata, use_rep=reps, gene_rep="genes_random", **TOY_KW)
    obs = adata.obs["perturbation"].astype(str).to_numpy()
    victim = sorted(set(obs) - {"control"})[3]
    broken = adata.copy()
    rows = np.flatnonzero(obs == victim)
    ctrl = np.flatnonzero(obs == "control")
    broken.X[rows] = adata.X[np.random.default_rng(0).choice(ctrl, rows.size)]
    run(broken, use_rep=reps, gene_rep="genes_random", **TOY_KW)
    for rep in [*reps, "linear", "genes_random"]:
        a = _store.get(adata, "cz_perturbation_expression_prediction", rep=rep).artifacts["predictions"]
        b = _store.get(broken, "cz_perturbation_expression_prediction", rep=rep).artifacts["predictions"]
        i = list(a["condition"]).index(victim)
        assert np.all(np.isfinite(a["delta"][i]))
        np.testing.assert_allclose(a["delta"][i], b["delta"][i], rtol=1e-5, atol=1e-6, err_msg=rep)
    m = {
        r: _store.get(adata, "cz_perturbation_expression_prediction", rep=r).metrics
        for r in [*reps, "linear"]
    }
    assert all(v["coverage"] == 1.0 for v in m.values())
    # the expression itself is no oracle any more: a linear model of control co-expression, far from 1
    assert m["X_expr"]["spearman"] < 0.9 and m["linear"]["spearman"] > m["X_random_baseline"]["spearman"]
