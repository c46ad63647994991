"""``scmf.models.load``: a checkpoint directory (or a baseline name) -> a model for ``tl.embed``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._vocab import GeneVocab


@dataclass
class CheckpointFormat:
    """A checkpoint format :func:`load` detects, and what a user needs to know to find one.

    ``detect`` and ``load`` are callables or ``"module:function"`` references, imported on
    first use (so ``import scmf`` never imports a format's heavy dependencies).
    """

    name: str
    detect: Callable[[Path], bool] | str
    load: Callable[..., object] | str
    files: str = ""
    options: str = ""
    paper: str = ""
    weights: str = ""
    random: Callable[[Path, list[str], int], None] | str | None = None

    def detector(self) -> Callable[[Path], bool]:
        return _resolve_ref(self.detect)

    def loader(self) -> Callable[..., object]:
        return _resolve_ref(self.load)

    def random_writer(self) -> Callable[[Path, list[str], int], None] | None:
        """``write(path, genes, seed)``: a tiny random-weight release (see :func:`random_release`)."""
        return None if self.random is None else _resolve_ref(self.random)

    @property
    def takes_seed(self) -> bool:
        """Whether the format's recipe draws random numbers (its loader takes ``seed``)."""
        import inspect

        return "seed" in inspect.signature(self.loader()).parameters


def _resolve_ref(ref):
    if callable(ref):
        return ref
    import importlib

    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


_FORMATS: dict[str, CheckpointFormat] = {}


def register_format(
    name: str,
    detect: Callable[[Path], bool] | str,
    load: Callable[..., object] | str,
    *,
    files: str = "",
    options: str = "",
    paper: str = "",
    weights: str = "",
    random: Callable[[Path, list[str], int], None] | str | None = None,
) -> None:
    """Teach :func:`load` (and so ``tl.embed`` and the CLI) a checkpoint format.

    ``detect(path) -> bool`` says whether a directory is in this format; ``load(path, **kwargs)``
    returns a model for :func:`scmf.tl.embed` (a :class:`TokenizedModel` or any object with
    ``embed(X, var_names)``). Formats are tried in registration order; re-registering a name
    replaces it. ``files``, ``options``, ``paper`` and ``weights`` (where the authors publish
    them) are text shown by :func:`format_info` and ``scmf list``. ``detect`` and ``load`` may be
    ``"module:function"`` references, imported on first use. A loader with a ``seed`` parameter
    receives the seed of :func:`scmf.tl.embed` (its recipe samples). ``random(path, genes, seed)``,
    when given, writes a tiny random-weight release for :func:`random_release`.

    Examples
    --------
    >>> import scmf
    >>> "reference" in scmf.models.formats() and "geneformer" in scmf.models.formats()
    True
    """
    _FORMATS[name] = CheckpointFormat(name, detect, load, files, options, paper, weights, random)


def formats() -> list[str]:
    """Names of the checkpoint formats :func:`load` knows, in detection order.

    Examples
    --------
    >>> import scmf
    >>> scmf.models.formats()[:2]
    ['reference', 'geneformer']
    """
    return list(_FORMATS)


def format_info() -> list[CheckpointFormat]:
    """Every checkpoint format with the files it reads, its options, its paper and where its weights are.

    Examples
    --------
    >>> import scmf
    >>> [f.name for f in scmf.models.format_info()][:3]
    ['reference', 'geneformer', 'scgpt']
    """
    return list(_FORMATS.values())


def load(path: str | Path, *, format: str | None = None, seed: int | None = None, **kwargs):
    """Load a model checkpoint directory.

    Parameters
    ----------
    path
        A scmf reference-model directory, a Geneformer (Hugging Face BERT) directory, or a
        directory of any format added with :func:`register_format`.
    format
        Skip detection and use this format (see :func:`formats`).
    seed
        Seed of a recipe that samples (scGPT, UCE; ``None``: the loader's default); formats
        without random draws ignore it.
    **kwargs
        Passed to the format's loader (e.g. ``vocab=``, ``hidden_layer=``, ``pooling=`` for
        Geneformer).

    Examples
    --------
    >>> import os, tempfile, numpy as np, scmf
    >>> from scmf.models import GeneVocab, ReferenceConfig, ReferenceModel, save_reference
    >>> vocab = GeneVocab(np.array(["<pad>", "<cls>", "A", "B"], dtype=object), np.array(["", "", "ENSG00000000001", "ENSG00000000002"], dtype=object),
    ...                   np.array(["", "", "A", "B"], dtype=object), np.array([np.nan, np.nan, 1.0, 2.0]), {"<pad>": 0, "<cls>": 1})
    >>> model = ReferenceModel(ReferenceConfig(vocab_size=4, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=4))
    >>> path = save_reference(model, vocab, os.path.join(tempfile.mkdtemp(), "tiny"))
    >>> type(scmf.models.load(path)).__name__
    'TokenizedModel'
    """
    p = Path(path)
    if not p.exists():
        msg = f"model checkpoint {str(p)!r} does not exist."
        raise FileNotFoundError(msg)
    if not p.is_dir():
        msg = f"model checkpoint {str(p)!r} is a file; pass the checkpoint directory (config.json + weights)."
        raise ValueError(msg)
    if format is not None:
        if format not in _FORMATS:
            msg = f"unknown checkpoint format {format!r}; known: {formats()}."
            raise ValueError(msg)
        fmt = _FORMATS[format]
    else:
        fmt = next((f for f in _FORMATS.values() if f.detector()(p)), None)
        if fmt is None:
            msg = (
                f"{p} is not a checkpoint format scmf knows ({formats()}): expected config.json with weights."
            )
            raise ValueError(msg)
    if seed is not None and fmt.takes_seed:
        kwargs["seed"] = int(seed)
    return fmt.loader()(p, **kwargs)


def load_pretrained_with_vocab(path: str | Path, **kwargs) -> tuple[Any, GeneVocab]:
    """Load a checkpoint directory together with its gene vocabulary (the evaluation guide's loader).

    Returns ``(model, vocab)``: the model as :func:`load` gives it (a
    :class:`~scmf.models.TokenizedModel` for the built-in formats) and its
    :class:`~scmf.models.GeneVocab`, from which :func:`~scmf.models.get_tokenizer` builds a
    tokenizer. ``kwargs`` go to :func:`load`.

    Examples
    --------
    >>> import os, tempfile, numpy as np, scmf
    >>> from scmf.models import GeneVocab, ReferenceConfig, ReferenceModel, save_reference
    >>> vocab = GeneVocab(np.array(["<pad>", "<cls>", "A"], dtype=object), np.array(["", "", "ENSG1"], dtype=object),
    ...                   np.array(["", "", "A"], dtype=object), np.array([np.nan, np.nan, 1.0]), {"<pad>": 0, "<cls>": 1})
    >>> path = save_reference(ReferenceModel(ReferenceConfig(vocab_size=3, d_model=8, n_layers=1, n_heads=2, d_ff=16,
    ...                       max_len=4)), vocab, os.path.join(tempfile.mkdtemp(), "tiny"))
    >>> model, vocab = scmf.models.load_pretrained_with_vocab(path)
    >>> tokenizer = scmf.models.get_tokenizer("rank_value", gene_vocab=vocab, max_len=4)
    >>> len(vocab), type(model).__name__
    (3, 'TokenizedModel')
    """
    model = load(path, **kwargs)
    tok = getattr(model, "tokenizer", None)
    vocab = getattr(tok, "vocab", None)
    if vocab is None:
        msg = f"the model loaded from {str(path)!r} carries no gene vocabulary (it has no tokenizer)."
        raise ValueError(msg)
    return model, vocab


register_format(
    "reference",
    "scmf.models._reference:is_reference_dir",
    "scmf.models._reference:load_reference",
    files="config.json (scmf_model: reference), model.safetensors, vocab.tsv",
    options="device",
    paper="scmf's own small transformer (scmf.models.ReferenceModel)",
    weights="written by scmf.models.save_reference",
    random="scmf.models._random:write_reference",
)
register_format(
    "geneformer",
    "scmf.models._geneformer:is_geneformer_dir",
    "scmf.models._geneformer:load_geneformer",
    files="config.json (model_type: bert), model.safetensors or pytorch_model.bin; token and median dictionaries",
    options="vocab, hidden_layer, pooling, max_len",
    paper="Theodoris et al., Nature 2023 (Geneformer)",
    weights="huggingface.co/ctheodoris/Geneformer",
    random="scmf.models._random:write_geneformer",
)
register_format(
    "scgpt",
    "scmf.models._scgpt:is_scgpt_dir",
    "scmf.models._scgpt:load_scgpt",
    files="args.json, best_model.pt, vocab.json",
    options="vocab, max_length, pooling, seed",
    paper="Cui et al., Nature Methods 2024 (scGPT)",
    weights="github.com/bowang-lab/scGPT (README: pretrained scGPT model zoo, Google Drive folders)",
    random="scmf.models._random:write_scgpt",
)
register_format(
    "uce",
    "scmf.models._uce:is_uce_dir",
    "scmf.models._uce:load_uce",
    files=(
        "4layer_model.torch or 33l_8ep_1024t_1280.torch, species_chrom.csv, species_offsets.pkl, "
        "protein_embeddings/*.gene_symbol_to_embedding_ESM2.pt, optional all_tokens.torch"
    ),
    options="species, weights, nhead, sample_size, pad_length, batch_size, min_cells, seed",
    paper="Rosen et al., bioRxiv 2023 (Universal Cell Embeddings)",
    weights="github.com/snap-stanford/UCE (README: model files on figshare / Google Drive)",
    random="scmf.models._random:write_uce",
)
register_format(
    "scfoundation",
    "scmf.models._scfoundation:is_scfoundation_dir",
    "scmf.models._scfoundation:load_scfoundation",
    files="models.ckpt (in the folder or its models/), OS_scRNA_gene_index.19264.tsv (beside it or one folder up)",
    options="gene_index, version, pool_type, pre_normalized, tgthighres, weights_only",
    paper="Hao et al., Nature Methods 2024 (scFoundation)",
    weights="github.com/biomap-research/scFoundation (README: models.ckpt from the authors' download page)",
    random="scmf.models._random:write_scfoundation",
)
register_format(
    "transcriptformer",
    "scmf.models._transcriptformer:is_transcriptformer_dir",
    "scmf.models._transcriptformer:load_transcriptformer",
    files="config.json, model_weights.pt, vocabs/ (ESM-2 gene mappings *.h5, auxiliary *_vocab.json)",
    options="model_type, clip_counts",
    paper="Pearce et al., bioRxiv 2025 (TranscriptFormer)",
    weights="github.com/czi-ai/transcriptformer (README: `transcriptformer download tf-sapiens` etc.)",
    random="scmf.models._random:write_transcriptformer",
)
register_format(
    "external",
    "scmf.models._external:is_external_dir",
    "scmf.models._external:load_external",
    files="scmf_external.yaml (recipe: stack | scprint, or command:), environment:, files: (relative to the folder)",
    options="environment, context_key, timeout, threads, and the recipe's options",
    paper="a model run by its authors' package in its own Python environment (Stack, scPRINT, any command line)",
    weights="wherever its authors publish them (see the models docs)",
)
