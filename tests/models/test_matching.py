from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scmf import ScmfWarning
from scmf.models import match_genes


def test_kang_symbols(kang, gf_vocab):
    m = match_genes(kang.var, kang.var_names, gf_vocab)
    assert m.id_type == "symbol"
    table = gf_vocab.lookup("symbol")
    expected = np.array([table.get(g, -1) for g in kang.var_names])
    np.testing.assert_array_equal(m.token_ids, expected)
    rep = m.report(gf_vocab)
    assert rep["n_genes_matched"] == (expected >= 0).sum() > 5000
    assert rep["n_genes_data"] == kang.n_vars
    assert rep["n_vocab_genes"] == 20271


def test_ensembl_with_versions_detected(gf_vocab):
    ens = gf_vocab.ensembl[gf_vocab.is_gene][:50]
    names = pd.Index([f"{e}.{i % 3 + 1}" for i, e in enumerate(ens)])
    m = match_genes(pd.DataFrame(index=names), names, gf_vocab)
    assert m.id_type == "ensembl"
    np.testing.assert_array_equal(m.token_ids, np.flatnonzero(gf_vocab.is_gene)[:50])


def test_gene_key_column(kang, gf_vocab):
    sym2ens = {s: e for s, e in zip(gf_vocab.symbol, gf_vocab.ensembl, strict=True) if s}
    var = kang.var.assign(ensembl=[sym2ens.get(s, f"unknown{i}") for i, s in enumerate(kang.var_names)])
    m = match_genes(var, kang.var_names, gf_vocab, gene_key="ensembl")
    assert m.id_type == "ensembl"
    np.testing.assert_array_equal(m.token_ids, match_genes(kang.var, kang.var_names, gf_vocab).token_ids)


def test_no_match_names_the_fix(kang, gf_vocab):
    sym2ens = {s: e for s, e in zip(gf_vocab.symbol, gf_vocab.ensembl, strict=True) if s}
    var = pd.DataFrame({"symbol": kang.var_names}, index=[f"cell_gene_{i}" for i in range(kang.n_vars)])
    with pytest.raises(ValueError, match=r"gene_key='symbol'"):
        match_genes(var, var.index, gf_vocab)
    with pytest.raises(ValueError, match="id_type='symbol'"):
        match_genes(kang.var, kang.var_names, gf_vocab, id_type="ensembl")
    mouse = pd.Index([g.capitalize() for g in kang.var_names if g.isupper()][:200])
    with pytest.raises(ValueError, match="mouse"):
        match_genes(pd.DataFrame(index=mouse), mouse, gf_vocab)
    assert sym2ens  # the mapping the first case would need exists


def test_missing_gene_key(kang, gf_vocab):
    with pytest.raises(KeyError, match="not a column"):
        match_genes(kang.var, kang.var_names, gf_vocab, gene_key="nope")


def test_low_coverage_warns(kang, gf_vocab):
    names = pd.Index([*kang.var_names[:10], *[f"x{i}" for i in range(100)]])
    with pytest.warns(ScmfWarning, match="only"):
        m = match_genes(pd.DataFrame(index=names), names, gf_vocab)
    assert 0 < m.n_matched <= 10
