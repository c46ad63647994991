"""Hostile or careless input that used to crash, hang or inflate: each class held at its root."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scmf


def test_a_label_with_mathtext_draws_and_reports(pbmc, tmp_path):
    import matplotlib

    matplotlib.use("agg")
    a = pbmc.copy()
    a.obs["bulk_labels"] = a.obs["bulk_labels"].astype(str).replace({"CD14+ Monocyte": r"$\badcommand$"})
    scmf.bm.linear_probe(a, "bulk_labels", use_rep="X_pca", n_splits=2)
    fig = scmf.pl.confusion_matrix(a, return_fig=True)
    fig.savefig(tmp_path / "c.png")  # drawing the label as text, not parsing it as TeX
    assert any("badcommand" in t.get_text() for t in fig.findobj(matplotlib.text.Text))
    html = scmf.report(a, tmp_path / "r.html").read_text()  # matplotlib's TeX parser used to stop it
    assert 'data-benchmark="linear_probe"' in html and "<img" in html


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda a: scmf.bm.linear_probe(a, "bulk_labels", use_rep="X_pca", n_splits=10**11), "n_splits=.* more than 1000"),
        (lambda a: scmf.bm.embedding_quality(a, "bulk_labels", use_rep="X_pca", n_bootstrap=10**11), "more than 100000"),
        (lambda a: scmf.bm.label_efficiency(a, "bulk_labels", use_rep="X_pca", n_draws=10**11), "n_draws must be an integer from 1 to 1000"),
        (lambda a: scmf.bm.label_efficiency(a, "bulk_labels", use_rep="X_pca", budgets={1: "a"}), "budgets must be a list"),
        (lambda a: scmf.bm.label_efficiency(a, "bulk_labels", use_rep="X_pca", budgets=2.5), "budgets must be a list"),
        (lambda a: scmf.bm.label_efficiency(a, "bulk_labels", use_rep="X_pca", budgets=[[1, 5]]), "budgets must be positive"),
        (lambda a: scmf.bm.label_efficiency(a, "bulk_labels", use_rep="X_pca", budgets=["5"]), "budgets must be positive"),
    ],
)
def test_counts_that_would_run_for_ever_and_budgets_of_the_wrong_type_are_refused(pbmc, call, match):
    with pytest.raises(ValueError, match=match):
        call(pbmc)
    assert "scmf_bench" not in pbmc.uns


def test_a_yaml_alias_bomb_is_refused(tmp_path):
    bomb = (
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "eval:\n  benchmarks: [{name: linear_probe, params: {cell_type_key: *c}}]\n"
    )
    (tmp_path / "eval.yaml").write_text(bomb)
    with pytest.raises(ValueError, match=r"YAML aliases \(\*a\) are not accepted"):
        scmf.bm.load_config(tmp_path / "eval.yaml")
    model = tmp_path / "m"
    model.mkdir()
    (model / "scmf_external.yaml").write_text("recipe: stack\noptions: &o {batch_size: 2}\nfiles: *o\n")
    with pytest.raises(ValueError, match="YAML aliases"):
        scmf.models.load(model)


def test_duplicated_gene_names_are_named_by_every_tokenised_model(tmp_path):
    import anndata as ad

    genes = ["CD3E", "LYZ", "MS4A1", "CD3E"]
    a = ad.AnnData(np.array([[1, 2, 0, 3], [0, 1, 1, 0]], dtype=np.float32), var=pd.DataFrame(index=genes))
    path = scmf.models.random_release("reference", tmp_path / "tiny", genes=genes[:3])
    with pytest.warns(UserWarning, match=r"1 gene names appear more than once in adata.var_names \(CD3E\)"):
        scmf.tl.embed(a, path, progress=False)
