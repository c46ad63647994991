from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from scmf.models import GeneVocab


def test_geneformer_tsv(gf_vocab, data_dir):
    raw = pd.read_csv(data_dir / "geneformer_gc95M_vocab.tsv.gz", sep="\t")
    assert len(gf_vocab) == len(raw) == 20275
    assert gf_vocab.specials == {"<pad>": 0, "<mask>": 1, "<cls>": 2, "<eos>": 3}
    row = raw[raw["symbol"] == "TSPAN6"].iloc[0]
    assert gf_vocab.lookup("symbol")["TSPAN6"] == row["token_id"]
    assert gf_vocab.lookup("ensembl")[row["ensembl_id"]] == row["token_id"]
    assert gf_vocab.medians[row["token_id"]] == pytest.approx(row["nonzero_median"])
    assert gf_vocab.is_gene.sum() == len(raw) - 4


def test_geneformer_pickled_dictionaries(tmp_path, gf_vocab, data_dir):
    raw = pd.read_csv(data_dir / "geneformer_gc95M_vocab.tsv.gz", sep="\t")
    genes = raw.iloc[4:]
    tok = {
        **{s: i for i, s in enumerate(["<pad>", "<mask>", "<cls>", "<eos>"])},
        **dict(zip(genes.ensembl_id, genes.token_id, strict=True)),
    }
    med = {
        e: np.float64(m) for e, m in zip(genes.ensembl_id, genes.nonzero_median, strict=True)
    }  # numpy scalars, as upstream
    names = dict(zip(genes.symbol, genes.ensembl_id, strict=True))
    for name, obj in [
        ("token_dictionary_gc95M.pkl", tok),
        ("gene_median_dictionary_gc95M.pkl", med),
        ("gene_name_id_dict_gc95M.pkl", names),
    ]:
        with (tmp_path / name).open("wb") as fh:
            pickle.dump(obj, fh)
    v = GeneVocab.from_geneformer(
        token_dictionary=tmp_path / "token_dictionary_gc95M.pkl",
        gene_median_dictionary=tmp_path / "gene_median_dictionary_gc95M.pkl",
        gene_name_id_dictionary=tmp_path / "gene_name_id_dict_gc95M.pkl",
    )
    assert v.specials == gf_vocab.specials
    assert (v.ensembl == gf_vocab.ensembl).all()
    np.testing.assert_allclose(v.medians[4:], gf_vocab.medians[4:])
    assert v.lookup("symbol") == gf_vocab.lookup("symbol")


def test_pickle_with_objects_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with (tmp_path / "token_dictionary.pkl").open("wb") as fh:
        pickle.dump({"a": Evil()}, fh)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        GeneVocab.from_geneformer(token_dictionary=tmp_path / "token_dictionary.pkl")


def test_scgpt_vocab_appends_specials(scgpt_vocab, data_dir):
    import json

    d = json.loads((data_dir / "scgpt_default_gene_vocab.json").read_text())
    n = max(d.values()) + 1
    assert scgpt_vocab.specials == {"<pad>": n, "<cls>": n + 1, "<eoc>": n + 2}
    assert scgpt_vocab.lookup("symbol")["A1BG"] == d["A1BG"]
    assert scgpt_vocab.pad_id == n


def test_scgpt_vocab_with_ensembl_ids(data_dir):
    info = pd.read_csv(data_dir / "geneformer_gc95M_vocab.tsv.gz", sep="\t")
    v = GeneVocab.from_scgpt(data_dir / "scgpt_default_gene_vocab.json", gene_info=info)
    ens = info.set_index("symbol").loc["TSPAN6", "ensembl_id"]
    assert v.lookup("ensembl")[ens] == v.lookup("symbol")["TSPAN6"]


def test_save_load_roundtrip(tmp_path, gf_vocab):
    gf_vocab.save(tmp_path / "vocab.tsv")
    back = GeneVocab.load(tmp_path / "vocab.tsv")
    assert back.specials == gf_vocab.specials
    for f in ("tokens", "ensembl", "symbol"):
        assert (getattr(back, f) == getattr(gf_vocab, f)).all()
    np.testing.assert_array_equal(back.medians, gf_vocab.medians)


def test_load_rejects_foreign_file(tmp_path):
    (tmp_path / "x.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="not a scmf vocabulary"):
        GeneVocab.load(tmp_path / "x.tsv")
