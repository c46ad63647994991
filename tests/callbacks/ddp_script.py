"""Two-process DDP (gloo, CPU) training with the assessment callback; run by test_assessment.py.

Writes, from every rank, the assessment metrics that rank saw in ``trainer.callback_metrics``
and when EarlyStopping stopped, so the test can check the ranks agree and nothing hangs.
"""

import json
import sys
from pathlib import Path

import anndata as ad
import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping

import scmf
from scmf.models import GeneVocab, ReferenceConfig, ReferenceModel, Tokenizer
from scmf.models._training import TokenDataset, lit_module


def main(data_dir: str, out: str) -> None:
    vocab = GeneVocab.from_geneformer(Path(data_dir) / "geneformer_gc95M_vocab.tsv.gz")
    kang = ad.read_h5ad(Path(data_dir) / "kang2018_ifnb_scgen_valid.h5ad")
    torch.manual_seed(0)
    cfg = ReferenceConfig(vocab_size=len(vocab), d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=32)
    tok = Tokenizer(vocab, "rank_value", max_len=32)
    module = lit_module(ReferenceModel(cfg), mask_id=vocab.specials["<mask>"], lr=0.0)
    ds = TokenDataset(kang[::20], tok, input_scale="log1p")
    train = torch.utils.data.DataLoader(ds, batch_size=64, collate_fn=TokenDataset.collate)
    key = "assessment/linear_probe/val_data/accuracy"
    cb = scmf.callbacks.AssessmentCallback(
        {"eval": {"benchmarks": [{"name": "linear_probe", "params": {"cell_type_key": "cell_type"}}]}},
        kang[1::10],
        tokenizer=tok,
        input_scale="log1p",
    )
    stop = EarlyStopping(monitor=key, mode="max", patience=1)
    trainer = pl.Trainer(
        max_epochs=5,
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[stop, cb],
    )
    trainer.fit(module, train)
    rank = trainer.global_rank
    seen = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("assessment/")}
    Path(out, f"rank{rank}.json").write_text(
        json.dumps({"metrics": seen, "stopped_epoch": stop.stopped_epoch, "n_assessed": len(cb.history)})
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
