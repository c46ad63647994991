"""Tokenizers against plain per-cell numpy implementations of the published recipes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from scmf import ScmfWarning
from scmf.models import Tokenizer
from scmf.models._tokenizers import input_scale_of


def _geneformer_reference(counts_row, tok, median, max_len):
    """Geneformer's tokenize_cell: normalise by median, rank non-zero genes, take the top."""
    usable = (tok >= 0) & (counts_row > 0)
    x = counts_row[usable] / median[usable]
    order = np.argsort(-x, kind="stable")
    return tok[usable][order][:max_len]


def _scgpt_binning(row, n_bins):
    """scGPT's preprocess.binning for one cell (left digitize, side='one')."""
    nz = row > 0
    bins = np.quantile(row[nz], np.linspace(0, 1, n_bins - 1))
    out = np.zeros_like(row)
    out[nz] = np.digitize(row[nz], bins)
    return out


@pytest.fixture
def counts(kang_small):
    # Kang stores log1p-normalised values: expm1 gives values proportional to counts
    X = kang_small.X.copy()
    X.data = np.expm1(X.data)
    return sparse.csr_matrix(X)


@pytest.mark.parametrize("max_len", [5, 64, 10_000])
def test_rank_value_equals_geneformer_recipe(kang_small, gf_vocab, counts, max_len):
    tk = Tokenizer(gf_vocab, "rank_value", max_len=max_len, add_cls=True, add_eos=True)
    match, scale = tk.match(kang_small.var, kang_small.var_names)
    t = tk.encode(counts, match.token_ids, scale, input_scale="counts")
    median = np.full(kang_small.n_vars, np.nan)
    ok = match.token_ids >= 0
    median[ok] = gf_vocab.medians[match.token_ids[ok]]
    dense = counts.toarray()
    assert t.ids.shape[1] == t.lengths.max()  # padded to the longest cell only
    for i in range(dense.shape[0]):
        ref = _geneformer_reference(dense[i], match.token_ids, median, max_len)
        row = t.ids[i, : t.lengths[i]]
        assert row[0] == gf_vocab.specials["<cls>"] and row[-1] == gf_vocab.specials["<eos>"]
        np.testing.assert_array_equal(row[1:-1], ref)
        assert (t.ids[i, t.lengths[i] :] == gf_vocab.pad_id).all()


def test_rank_value_from_log1p_equals_from_counts(kang_small, gf_vocab, counts):
    tk = Tokenizer(gf_vocab, "rank_value", max_len=100)
    match, scale = tk.match(kang_small.var, kang_small.var_names)
    a = tk.encode(counts, match.token_ids, scale, input_scale="counts")
    b = tk.encode(kang_small.X, match.token_ids, scale, input_scale="log1p")
    np.testing.assert_array_equal(a.ids, b.ids)


def test_binned_equals_scgpt_binning(kang_small, scgpt_vocab):
    tk = Tokenizer(scgpt_vocab, "binned", max_len=3000, n_bins=51)
    match, scale = tk.match(kang_small.var, kang_small.var_names)
    t = tk.encode(kang_small.X, match.token_ids, scale, input_scale="log1p")
    dense = kang_small.X.toarray()
    dense[:, match.token_ids < 0] = 0  # only vocabulary genes are binned
    for i in range(0, dense.shape[0], 7):
        binned = _scgpt_binning(dense[i], 51)
        n = t.lengths[i] - 1
        assert t.ids[i, 0] == scgpt_vocab.specials["<cls>"]
        got = dict(zip(t.ids[i, 1 : n + 1], t.values[i, 1 : n + 1], strict=True))
        nz = np.flatnonzero(dense[i] > 0)
        assert got == {match.token_ids[g]: pytest.approx(binned[g]) for g in nz}
        assert 1 <= min(got.values()) and max(got.values()) == 50


def test_binned_from_counts_normalises_first(kang_small, scgpt_vocab, counts):
    tk = Tokenizer(scgpt_vocab, "binned", max_len=3000)
    match, scale = tk.match(kang_small.var, kang_small.var_names)
    # counts proportional to expm1(log1p-normalised): normalise_total + log1p gives back X up to rounding
    raw = counts.copy()
    raw.data = np.round(raw.data * 3)
    norm = raw.multiply(1e4 / np.asarray(raw.sum(1))).tocsr()
    norm.data = np.log1p(norm.data)
    a = tk.encode(raw, match.token_ids, scale, input_scale="counts")
    b = tk.encode(norm, match.token_ids, scale, input_scale="log1p")
    np.testing.assert_array_equal(a.lengths, b.lengths)
    for i in range(a.ids.shape[0]):  # equal values may come in another order after rounding
        assert dict(zip(a.ids[i], a.values[i], strict=True)) == dict(zip(b.ids[i], b.values[i], strict=True))


def test_continuous_values_and_truncation(kang_small, scgpt_vocab):
    tk = Tokenizer(scgpt_vocab, "continuous", max_len=10, add_cls=False)
    match, scale = tk.match(kang_small.var, kang_small.var_names)
    t = tk.encode(kang_small.X, match.token_ids, scale, input_scale="log1p")
    dense = kang_small.X.toarray()
    dense[:, match.token_ids < 0] = 0
    top = -np.sort(-dense, axis=1)[:, :10]
    np.testing.assert_allclose(t.values, top.astype(np.float32))
    assert (t.lengths == 10).all()


def test_empty_cells_and_ties(gf_vocab):
    genes = gf_vocab.ensembl[gf_vocab.is_gene][:4]
    import pandas as pd

    tk = Tokenizer(gf_vocab, "rank_value", max_len=8)
    match, scale = tk.match(pd.DataFrame(index=genes), pd.Index(genes))
    scale[:] = 1.0  # equal medians: ties broken by column order
    X = sparse.csr_matrix(np.array([[0, 0, 0, 0], [2, 2, 0, 2], [1, 3, 0, 0]], dtype=float))
    t = tk.encode(X, match.token_ids, scale)
    tid = match.token_ids
    assert t.lengths.tolist() == [1, 4, 3]
    assert t.ids[0].tolist() == [2, 0, 0, 0]
    assert t.ids[1].tolist() == [2, tid[0], tid[1], tid[3]]
    assert t.ids[2, :3].tolist() == [2, tid[1], tid[0]]
    assert t.attention_mask.sum(1).tolist() == [1, 4, 3]


def test_input_scale_detection(kang_small, counts):
    with pytest.warns(ScmfWarning, match="expects raw counts"):
        assert input_scale_of(kang_small.X, "auto", "rank_value") == "log1p"
    assert input_scale_of(sparse.csr_matrix(np.round(counts.toarray())), "auto", "rank_value") == "counts"
    with pytest.raises(ValueError, match="negative"):
        input_scale_of(np.array([[-1.0, 2.0]]), "auto", "binned")


def test_bad_settings(gf_vocab, scgpt_vocab):
    with pytest.raises(ValueError, match="kind"):
        Tokenizer(gf_vocab, "words")
    with pytest.raises(ValueError, match="medians"):
        Tokenizer(scgpt_vocab, "rank_value")
    with pytest.raises(ValueError, match="<eos>"):
        Tokenizer(scgpt_vocab, "binned", add_eos=True)
