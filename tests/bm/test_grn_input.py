"""Networks as they come: versioned Ensembl ids, TRRUST's capitalised columns, no header."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

import scmf


def _kang_with_pca(kang):
    a = kang[::2].copy()
    scmf.tl.embed(a, "pca", n_comps=20)
    return a


def _dorothea(data_dir) -> pd.DataFrame:
    return pd.read_csv(data_dir / "dorothea_hs.tsv.gz", sep="\t")


def test_capitalised_columns_and_versioned_ids(kang, data_dir, tmp_path):
    a = _kang_with_pca(kang)
    net = _dorothea(data_dir)
    scmf.bm.grn_inference(a, network=net, min_cells=10, n_bootstrap=0, dataset_name="plain")
    want = scmf.bm.results(a).query("dataset == 'plain'").set_index("metric")["value"]
    # TRRUST writes TF / Target
    trrust = net.rename(columns={c: c.upper() if c == "tf" else c.capitalize() for c in net.columns})
    assert {"TF", "Target"} <= set(trrust.columns)
    path = tmp_path / "trrust.tsv"
    trrust.to_csv(path, sep="\t", index=False)
    scmf.bm.grn_inference(a, network=path, min_cells=10, n_bootstrap=0, dataset_name="caps")
    got = scmf.bm.results(a).query("dataset == 'caps'").set_index("metric")["value"]
    pd.testing.assert_series_equal(got, want)
    # Ensembl ids with versions in the data, without in the network (and the reverse)
    rng = np.random.default_rng(0)
    ens = {g: f"ENSG{i:011d}" for i, g in enumerate(a.var_names)}
    b = a.copy()
    b.var_names = [f"{ens[g]}.{rng.integers(1, 20)}" for g in a.var_names]
    net_ens = net[net["tf"].isin(ens) & net["target"].isin(ens)].copy()
    net_ens["tf"] = net_ens["tf"].map(ens)
    net_ens["target"] = net_ens["target"].map(ens)
    scmf.bm.grn_inference(b, network=net_ens, min_cells=10, n_bootstrap=0, dataset_name="ens")
    got = scmf.bm.results(b).query("dataset == 'ens'").set_index("metric")["value"]
    pd.testing.assert_series_equal(got, want)


def test_headerless_network_is_explained(kang, data_dir, tmp_path):
    a = _kang_with_pca(kang)
    net = _dorothea(data_dir)[["tf", "target"]].head(200).assign(weight=0.8)
    path = tmp_path / "no_header.tsv.gz"
    with gzip.open(path, "wt") as f:
        net.to_csv(f, sep="\t", index=False, header=False)
    first = net.iloc[0]
    with pytest.raises(
        ValueError, match=rf"no header line: its first edge \({first['tf']}, {first['target']}, 0.8\)"
    ):
        scmf.bm.grn_inference(a, network=path)
    with pytest.raises(ValueError, match="cannot tell the source and target columns"):
        scmf.bm.grn_inference(a, network=pd.DataFrame({"from": ["A"], "to": ["B"], "what": ["x"]}))


def test_unreadable_weights_self_loops_and_empty_networks():
    from scmf.bm._grn import read_network

    words = pd.DataFrame({"gene1": ["A", "B"], "gene2": ["B", "C"], "weight": ["high", "low"]})
    with pytest.raises(ValueError, match=r"2 weights in column 'weight' are not numbers \('high', 'low'\)"):
        read_network(words)
    commas = pd.DataFrame({"gene1": ["A", "B"], "gene2": ["B", "C"], "weight": ["0,5", "1"]})
    with pytest.raises(ValueError, match="decimal commas"):
        read_network(commas)
    with pytest.raises(ValueError, match="every row is a self-loop"):
        read_network(pd.DataFrame({"tf": ["A", "B"], "target": ["A", "B"]}))
    with pytest.raises(ValueError, match="has no rows"):
        read_network(pd.DataFrame(columns=["tf", "target"]))
    ok = read_network(pd.DataFrame({"gene1": ["A", "B"], "gene2": ["B", "C"], "weight": [0.5, -1]}))
    assert ok["positive"].tolist() == [True, False]


@pytest.mark.filterwarnings("always::scmf.ScmfWarning")
def test_duplicated_gene_names_are_named(kang, data_dir):
    a = kang.copy()
    scmf.tl.embed(a, "pca", n_comps=10)
    names = a.var_names.to_numpy().copy()
    tf = next(g for g in _dorothea(data_dir)["tf"] if g in set(names) and g != names[0])
    names[0] = tf  # a network gene twice
    a.var_names = names
    with pytest.warns(
        scmf.ScmfWarning, match=rf"1 gene names of the network occur more than once in the data \({tf}\)"
    ):
        scmf.bm.grn_inference(a, data_dir / "dorothea_hs.tsv.gz", n_bootstrap=0)
