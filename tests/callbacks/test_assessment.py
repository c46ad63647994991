"""Evaluation during training: the reference model trained on Kang with the callback."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import scmf
from scmf.callbacks import Assessment
from scmf.models import ReferenceConfig, ReferenceModel, Tokenizer
from scmf.models._training import TokenDataset, lit_module, masked_gene_loss

CONFIG = {
    "eval": {
        "every_n_epochs": 1,
        "batch_size": 128,
        "benchmarks": [
            {"name": "linear_probe", "params": {"cell_type_key": "cell_type"}},
            {"name": "embedding_quality", "params": {"cell_type_key": "cell_type", "batch_key": None}},
        ],
    }
}


def _model(vocab):
    torch.manual_seed(0)
    cfg = ReferenceConfig(
        vocab_size=len(vocab), d_model=32, n_layers=1, n_heads=2, d_ff=64, max_len=48, dropout=0.0
    )
    return ReferenceModel(cfg), Tokenizer(vocab, "rank_value", max_len=48)


@pytest.mark.slow
def test_core_in_a_plain_torch_loop(kang, gf_vocab):
    model, tok = _model(gf_vocab)
    train = TokenDataset(kang[::3], tok, input_scale="log1p")  # ~660 cells: a few seconds per epoch
    loader = torch.utils.data.DataLoader(
        train,
        batch_size=64,
        shuffle=True,
        collate_fn=TokenDataset.collate,
        generator=torch.Generator().manual_seed(0),
    )
    val = kang[1::6].copy()
    before = val.copy()
    assess = Assessment(CONFIG, val, tokenizer=tok, every_n_epochs=2, input_scale="log1p")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(1)
    losses, logged = [], {}
    for epoch in range(4):
        model.train()
        total = 0.0
        for batch in loader:
            loss = masked_gene_loss(model, *batch, mask_id=gf_vocab.specials["<mask>"], generator=gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss)
        losses.append(total / len(loader))
        if assess.should_run(epoch):
            logged[epoch] = assess.run(model, epoch)
            assert model.training  # train mode restored
    assert losses[-1] < losses[0] - 0.2, losses  # it learns
    assert sorted(logged) == [1, 3]
    for metrics in logged.values():
        assert 0.0 <= metrics["assessment/linear_probe/val_data/accuracy"] <= 1.0
        assert "assessment/embedding_quality/val_data/overall" in metrics
    h = assess.history
    assert sorted(h["epoch"].unique()) == [1, 3]
    row = h.query("epoch == 3 and metric == 'accuracy'")["value"].item()
    assert row == logged[3]["assessment/linear_probe/val_data/accuracy"]
    # same numbers as scmf's API on the same model
    check = val.copy()
    scmf.tl.embed(check, scmf.models.TokenizedModel(model, tok), input_scale="log1p", batch_size=128)
    scmf.bm.linear_probe(check, "cell_type")
    assert scmf._store.get(check, "linear_probe").metrics["accuracy"] == pytest.approx(row)
    assert "X_scmf" not in before.obsm and "X_scmf" not in val.obsm  # the user's AnnData is untouched
    assess.write_history(check)
    assert list(check.uns["scmf"]["history"]["epoch"]) == list(h["epoch"])


@pytest.mark.slow
def test_lightning_callback_logs_per_epoch(kang, gf_vocab):
    pl = pytest.importorskip("lightning.pytorch")
    from lightning.pytorch.loggers import Logger

    class MemoryLogger(Logger):
        def __init__(self):
            super().__init__()
            self.rows = []

        @property
        def name(self):
            return "memory"

        @property
        def version(self):
            return 0

        def log_hyperparams(self, params, *args, **kwargs):
            pass

        def log_metrics(self, metrics, step=None):
            self.rows.append((step, dict(metrics)))

    model, tok = _model(gf_vocab)
    ds = TokenDataset(kang[::3], tok, input_scale="log1p")
    train = torch.utils.data.DataLoader(
        ds,
        batch_size=64,
        shuffle=True,
        collate_fn=TokenDataset.collate,
        generator=torch.Generator().manual_seed(0),
    )
    valdl = torch.utils.data.DataLoader(
        torch.utils.data.Subset(ds, range(0, len(ds), 8)), batch_size=64, collate_fn=TokenDataset.collate
    )
    module = lit_module(model, mask_id=gf_vocab.specials["<mask>"], lr=3e-3)
    cb = scmf.callbacks.AssessmentCallback(CONFIG, kang[1::6], tokenizer=tok, input_scale="log1p")
    logger = MemoryLogger()
    trainer = pl.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=logger,
        callbacks=[cb],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=2,  # the sanity pass runs validation: the callback must not
        deterministic=True,
    )
    trainer.fit(module, train, valdl)
    assessed = [(s, m) for s, m in logger.rows if any(k.startswith("assessment/") for k in m)]
    assert len(assessed) == 3  # once per epoch, none for the sanity check
    steps = [s for s, _ in assessed]
    assert steps == sorted(steps) and len(set(steps)) == 3
    for _, m in assessed:
        acc = m["assessment/linear_probe/val_data/accuracy"]
        assert 0.0 <= acc <= 1.0 and np.isfinite(m["assessment/embedding_quality/val_data/nmi"])
    assert sorted(cb.history["epoch"].unique()) == [0, 1, 2]
    assert module.training and next(module.parameters()).device.type == "cpu"


def _degrading_module(model, tok, vocab):
    """A module whose embedding is the model's at epoch 0 and random noise afterwards."""
    base = lit_module(model, mask_id=vocab.specials["<mask>"], lr=0.0)

    class Degrading(type(base)):
        def encode(self, ids, values, mask):
            h = self.model.encode(ids, values, mask)
            if self.current_epoch == 0:
                return h
            g = torch.Generator().manual_seed(int(ids.sum()) % 10_000)
            return torch.randn(h.shape, generator=g)

    module = Degrading()
    return module


@pytest.mark.parametrize("with_validation", [True, False])
@pytest.mark.slow
def test_lightning_monitors_see_assessment_metrics(kang, gf_vocab, tmp_path, with_validation):
    pl = pytest.importorskip("lightning.pytorch")
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    model, tok = _model(gf_vocab)
    ds = TokenDataset(kang[::6], tok, input_scale="log1p")
    train = torch.utils.data.DataLoader(ds, batch_size=128, collate_fn=TokenDataset.collate)
    valdl = torch.utils.data.DataLoader(
        torch.utils.data.Subset(ds, range(0, len(ds), 8)), batch_size=64, collate_fn=TokenDataset.collate
    )
    module = _degrading_module(model, tok, gf_vocab)
    key = "assessment/linear_probe/val_data/accuracy"
    cfg = {"eval": {"benchmarks": [{"name": "linear_probe", "params": {"cell_type_key": "cell_type"}}]}}
    cb = scmf.callbacks.AssessmentCallback(cfg, kang[1::6], tokenizer=tok, input_scale="log1p", patience=2)
    # the monitors listed before the callback: Lightning's hook order must still give them the metric
    stop = EarlyStopping(monitor=key, mode="max", patience=2)
    ckpt = ModelCheckpoint(dirpath=tmp_path, monitor=key, mode="max", save_top_k=1, filename="{epoch}")
    trainer = pl.Trainer(
        max_epochs=8,
        accelerator="cpu",
        logger=False,
        callbacks=[stop, ckpt, cb],
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=1.0 if with_validation else 0,
    )
    trainer.fit(module, train, valdl if with_validation else None)
    h = cb.history.query("metric == 'accuracy'").set_index("epoch")["value"]
    assert list(h.index) == [0, 1, 2]  # stopped: two assessments without improvement
    assert stop.stopped_epoch == 2 and trainer.current_epoch < 7
    assert h[0] > h[1] + 0.1 and h[0] > h[2] + 0.1  # noise is worse than the model's embedding
    assert key in trainer.callback_metrics
    assert float(trainer.callback_metrics[key]) == pytest.approx(h[2])
    assert ckpt.best_model_path.endswith("epoch=0.ckpt")
    assert float(ckpt.best_model_score) == pytest.approx(h[0])
    # the framework-agnostic tracker agrees
    a = cb.assessment
    assert a.monitor == key and a.best == pytest.approx(h[0]) and a.best_epoch == 0 and a.should_stop


def test_assessment_tracks_best_and_patience(kang, gf_vocab):
    model, tok = _model(gf_vocab)
    cfg = {"eval": {"benchmarks": [{"name": "linear_probe", "params": {"cell_type_key": "cell_type"}}]}}
    a = Assessment(cfg, {"kang": kang[1::6]}, tokenizer=tok, input_scale="log1p", patience=1)
    assert a.monitor == "assessment/linear_probe/kang/accuracy"
    first = a.run(model, 0)[a.monitor]
    assert (a.best, a.best_epoch, a.should_stop) == (first, 0, False)
    a.run(model, 1)  # same weights, same value: no improvement
    assert a.best_epoch == 0 and a.should_stop
    with pytest.raises(ValueError, match="mode"):
        Assessment(cfg, kang[:50], tokenizer=tok, mode="best")


@pytest.mark.slow
def test_lightning_ddp_two_processes(data_dir, tmp_path):
    """Under DDP only rank zero computes; every rank logs the same values and stops together."""
    pytest.importorskip("lightning.pytorch")
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("ddp_script.py")
    proc = subprocess.run(
        [sys.executable, str(script), str(data_dir), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "MASTER_ADDR": "127.0.0.1", "PL_DISABLE_FORK": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    key = "assessment/linear_probe/val_data/accuracy"
    assert key in r0["metrics"] and r0["metrics"] == r1["metrics"]
    assert r0["stopped_epoch"] == r1["stopped_epoch"] == 1  # lr=0: no improvement, patience 1
    assert r0["n_assessed"] > 0 and r1["n_assessed"] == 0  # computed on rank zero only


def test_a_warning_is_shown_once_not_every_epoch(kang, gf_vocab):
    """The same warning (here: the scale of the input, and a benchmark's own) is shown at the first
    assessment only."""
    import warnings

    model, tok = _model(gf_vocab)
    val = kang[::10].copy()
    val.X = val.X * 1000.0  # unlogged values: the tokenizer warns about the scale
    config = {
        "eval": {
            "benchmarks": [{"name": "linear_probe", "params": {"cell_type_key": "cell_type", "n_splits": 2}}]
        }
    }
    assess = Assessment(config, val, tokenizer=tok)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch in range(3):
            assess.run(model, epoch)
    texts = [str(w.message) for w in caught if issubclass(w.category, scmf.ScmfWarning)]
    assert any("TPM/FPKM/CPM" in t for t in texts), texts
    assert len(texts) == len(set(texts))  # each once
    assert len(assess.history["epoch"].unique()) == 3
