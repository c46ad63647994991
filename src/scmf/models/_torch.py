"""Running a tokenised PyTorch model over cells: the adapter behind ``tl.embed``."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._warnings import warn
from ._protocol import RecipeHooks

if TYPE_CHECKING:
    from ._tokenizers import Tokenizer


def resolve_device(device: str | None = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` if available, else ``"mps"`` if available, else ``"cpu"``."""
    import torch

    if device in (None, "auto"):
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as e:
        msg = f"device={device!r} is not a torch device ('auto', 'cpu', 'cuda', 'cuda:1', 'mps')."
        raise ValueError(msg) from e
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        msg = f"device={device!r} requested but CUDA is not available here; use device='auto' or 'cpu'."
        raise ValueError(msg)
    return str(device)


@dataclass
class TokenizedModel:
    """A PyTorch module plus the tokenizer that feeds it: scmf's model protocol for transformers.

    ``module.encode(input_ids, values, attention_mask)`` takes ``(batch, length)`` tensors
    (int64, float32, bool) and returns ``(batch, d)`` cell embeddings. Any module with such a
    method works, with one of scmf's tokenizers; :func:`scmf.tl.embed` matches the genes once,
    tokenises batch by batch (padded to the longest cell, cells of similar length batched
    together), runs the module in eval mode under ``torch.inference_mode`` and restores
    its mode afterwards. ``autocast`` (``"float16"`` or ``"bfloat16"``) runs the forward pass
    under torch's mixed precision on CUDA, as a model's authors do on GPU; it is off on CPU.
    """

    module: Any
    tokenizer: Tokenizer
    name: str = "model"
    info: dict = field(default_factory=dict)
    autocast: str | None = None

    def __post_init__(self) -> None:
        if not callable(getattr(self.module, "encode", None)):
            msg = f"{type(self.module).__name__} has no encode(input_ids, values, attention_mask) method."
            raise TypeError(msg)

    def params(self) -> dict:
        return {"model": self.name, "tokenizer": self.tokenizer.config(), **self.info}

    @property
    def recipe(self) -> RecipeHooks:
        """The optional steps of the tokenizer (:class:`~scmf.models.RecipeHooks`; defaults where it has none)."""
        return hooks(self.tokenizer)

    def precision(self, device: str) -> str:
        """``"float32"``, or the autocast dtype the forward pass runs under on ``device``."""
        return self.autocast if self.autocast and str(device).startswith("cuda") else "float32"

    def embed_adata(self, adata, *, layer=None, batch_size=64, device="auto", gene_key=None, id_type="auto",
                    input_scale="auto", progress=None, plan=None) -> tuple[np.ndarray, dict]:  # fmt: skip
        """The cell embedding of ``adata`` and the parameters to record (what :func:`scmf.tl.embed` calls).

        ``plan`` (:func:`plan_tokens`): ``adata`` is one block of a larger run.
        """
        return embed_tokenized(
            adata, self, layer=layer, batch_size=batch_size, device=device, gene_key=gene_key,
            id_type=id_type, input_scale=input_scale, progress=progress, plan=plan,
        )  # fmt: skip


@contextlib.contextmanager
def running(model, device: str):
    """``model``'s module on ``device`` in eval mode, under ``torch.inference_mode`` and the
    model's autocast precision (CUDA only); its mode and device are restored afterwards."""
    import torch

    module = model.module
    was_training = bool(getattr(module, "training", False))
    prev_device = device_of(module)
    if prev_device is not None and str(prev_device) != device:
        module.to(device)
    if hasattr(module, "eval"):
        module.eval()
    precision = model.precision(device) if hasattr(model, "precision") else "float32"
    amp = (
        torch.autocast("cuda", dtype=getattr(torch, precision))
        if precision != "float32"
        else contextlib.nullcontext()
    )
    try:
        with torch.inference_mode(), amp:
            yield module
    finally:
        if hasattr(module, "train"):
            module.train(was_training)
        if prev_device is not None and str(prev_device) != device:
            module.to(prev_device)


def run_batches(model: TokenizedModel, batches, *, device: str, progress=None) -> list[np.ndarray]:
    """Embed pre-tokenised batches ``(ids, values, mask)`` (numpy) -> float32 arrays."""
    import torch

    out = []
    with running(model, device) as module:
        for ids, values, mask in batches:
            res = module.encode(
                torch.from_numpy(ids).to(device),
                torch.from_numpy(values).to(device),
                torch.from_numpy(mask).to(device),
            )
            out.append(res.detach().to("cpu", torch.float32).numpy())
            if progress is not None:
                progress.update(ids.shape[0])
    return out


def load_strict(module, state: dict, *, unused: tuple[str, ...], source, name: str, config: str,
                replace: dict | None = None, device: str | None = None):  # fmt: skip
    """Load a published checkpoint's weights into scmf's re-implementation, strictly.

    Every weight the module has must be in ``state`` with its shape; every key of ``state``
    must be the module's or start with one of ``unused`` (training heads the embedding does not
    use). ``replace`` overrides entries (assigned as they are, e.g. a memory-mapped table).
    Returns the module in eval mode on ``device``.
    """
    own = module.state_dict()
    unknown = sorted(k for k in state if k not in own and not k.startswith(unused))
    if unknown:
        msg = f"{source} has weights scmf's {name} encoder does not know: {unknown[:5]}."
        raise ValueError(msg)
    used = {k: v for k, v in state.items() if k in own} | (replace or {})
    try:
        module.load_state_dict(used, strict=True, assign=bool(replace))
    except RuntimeError as e:
        msg = f"the weights in {source} do not fit {config}: {e}"
        raise ValueError(msg) from None
    module.eval()
    if device is not None:
        module.to(device)
    return module


def device_of(module):
    """The device of a torch module's first parameter (``None`` without parameters).

    Examples
    --------
    >>> import torch
    >>> from scmf.models import device_of
    >>> str(device_of(torch.nn.Linear(2, 2)))
    'cpu'
    """
    try:
        return next(module.parameters()).device
    except (StopIteration, AttributeError, TypeError):
        return None


@dataclass
class TokenPlan:
    """What one embedding run decides once, before any cells are encoded.

    ``match`` and ``scale`` map the data's genes to the vocabulary (after the recipe's
    whole-data gene filter), ``input_scale`` is what the values are. Blocks of one run
    (Dask blocks, a cluster's tasks) are encoded with the same plan, so every route gives
    the embedding an in-memory call gives.
    """

    match: Any
    scale: np.ndarray
    input_scale: str


def hooks(tok) -> RecipeHooks:
    """The optional steps of recipe ``tok``: its own, or the defaults for a recipe without them."""
    return tok if isinstance(tok, RecipeHooks) else RecipeHooks()


def plan_tokens(adata, model, X, *, gene_key=None, id_type="auto", input_scale="auto") -> TokenPlan:
    """Start a run of ``model``'s recipe over ``X`` (the expression of ``adata``): restart its
    random stream, match the genes, apply its whole-data gene filter, detect the input scale.

    Examples
    --------
    >>> import os, tempfile, numpy as np, pandas as pd, anndata as ad, scmf
    >>> from scmf.models import GeneVocab, ReferenceConfig, ReferenceModel, save_reference, plan_tokens
    >>> vocab = GeneVocab(np.array(["<pad>", "<cls>", "A", "B"], dtype=object), np.array(["", "", "ENSG00000000001", "ENSG00000000002"], dtype=object),
    ...                   np.array(["", "", "A", "B"], dtype=object), np.array([np.nan, np.nan, 1.0, 2.0]), {"<pad>": 0, "<cls>": 1})
    >>> net = ReferenceModel(ReferenceConfig(vocab_size=4, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=4))
    >>> model = scmf.models.load(save_reference(net, vocab, os.path.join(tempfile.mkdtemp(), "tiny")))
    >>> cells = ad.AnnData(np.array([[1.0, 0.0], [2.0, 3.0]], dtype=np.float32), var=pd.DataFrame(index=["A", "C"]))
    >>> plan = plan_tokens(cells, model, cells.X)
    >>> plan.match.token_ids.tolist(), plan.input_scale  # gene C is not in the vocabulary
    ([2, -1], 'counts')
    """
    from .._expression import rows_csr
    from ._tokenizers import input_scale_of

    tok = model.tokenizer
    h = hooks(tok)
    h.begin()  # recipes that sample restart their seeded streams: same cells, same tokens
    match, scale = tok.match(adata.var, adata.var_names, gene_key=gene_key, id_type=id_type)
    n = adata.n_obs
    match = h.restrict(match, X, n)  # recipes that filter genes on the whole data (UCE)
    scale_kind = input_scale_of(rows_csr(X, 0, min(n, 2000)), input_scale, tok.kind)
    return TokenPlan(match, scale, scale_kind)


def token_chunks(adata, model, X, plan: TokenPlan, batch_size: int):
    """``(start, batches, index, n_empty)`` per row chunk of ``X``, encoded with ``plan`` and cut
    into batches as :func:`scmf.tl.embed` runs them (the one place that decides the chunks: a
    recipe with fixed batches never has one straddle two chunks)."""
    from .._expression import rows_csr

    tok = model.tokenizer
    h = hooks(tok)
    if h.batch_group:
        batch_size = int(h.batch_group)
    chunk = max(batch_size * 16, 4096)
    chunk -= chunk % batch_size
    n = adata.n_obs
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        extra = {"obs": adata.obs.iloc[start:stop]} if h.uses_obs else {}
        t = tok.encode(rows_csr(X, start, stop), plan.match.token_ids, plan.scale,
                       input_scale=plan.input_scale, **extra)  # fmt: skip
        yield (start, *form_batches(t, tok, batch_size))


def embed_tokenized(adata, model, *, layer, batch_size, device, gene_key, id_type, input_scale, progress,
                    plan: TokenPlan | None = None):  # fmt: skip
    """Match genes once, tokenise row chunks, run length-sorted batches padded to their longest cell.

    With ``plan`` (a block of a larger run) the genes are not matched again and the recipe's
    random stream continues where it stands.
    """
    from tqdm.auto import tqdm

    from .._expression import expression_source

    dev = resolve_device(device)
    tok = model.tokenizer
    h = hooks(tok)
    X = expression_source(adata, layer)
    n = adata.n_obs
    if plan is None:
        plan = plan_tokens(adata, model, X, gene_key=gene_key, id_type=id_type, input_scale=input_scale)
    group = h.batch_group
    if group:
        batch_size = int(group)
    out: np.ndarray | None = None
    n_empty = 0
    bar = tqdm(
        total=n,
        disable=progress is False if progress is not None else None,
        desc="scmf.tl.embed",
        unit="cell",
    )
    try:
        for start, batches, index, empty in token_chunks(adata, model, X, plan, batch_size):
            n_empty += empty
            res = run_batches(model, batches, device=dev, progress=bar)
            for idx, r in zip(index, res, strict=True):
                if r.ndim != 2 or r.shape[0] != idx.size:
                    msg = f"model {model.name!r} returned shape {r.shape} for a batch of {idx.size} cells; encode() must return (n_cells, d)."
                    raise ValueError(msg)
                if not np.isfinite(r).all():
                    msg = f"model {model.name!r} returned NaN or inf for {int((~np.isfinite(r).all(1)).sum())} cells."
                    raise ValueError(msg)
                if out is None:
                    out = np.empty((n, r.shape[1]), dtype=np.float32)
                out[start + idx] = r
    finally:
        bar.close()
    assert out is not None
    if n_empty:
        warn(
            f"{n_empty} of {n} cells express none of the model's genes; their embedding is the model's output for "
            "an empty cell. Filter them (sc.pp.filter_cells) or check the gene matching."
        )
    params = {
        **model.params(),
        "layer": layer,
        "batch_size": int(batch_size),
        "batch_order": "consecutive" if group else "by length",
        "device": dev,
        "dtype": model.precision(dev) if hasattr(model, "precision") else "float32",
        "input_scale": plan.input_scale,
        "genes": plan.match.report(tok.vocab),
        "n_empty_cells": n_empty,
    }
    return out, params


def tokenized_batches(model: TokenizedModel, adata, *, batch_size: int = 64, layer=None, gene_key=None):
    """``adata`` tokenised as :func:`scmf.tl.embed` does: length-sorted ``(ids, values, mask)`` batches.

    What the speed benchmarks feed the bare forward pass (:func:`run_batches`).

    Examples
    --------
    >>> import os, tempfile, numpy as np, pandas as pd, anndata as ad, scmf
    >>> from scmf.models import GeneVocab, ReferenceConfig, ReferenceModel, save_reference, tokenized_batches
    >>> vocab = GeneVocab(np.array(["<pad>", "<cls>", "A", "B"], dtype=object), np.array(["", "", "ENSG00000000001", "ENSG00000000002"], dtype=object),
    ...                   np.array(["", "", "A", "B"], dtype=object), np.array([np.nan, np.nan, 1.0, 2.0]), {"<pad>": 0, "<cls>": 1})
    >>> net = ReferenceModel(ReferenceConfig(vocab_size=4, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=4))
    >>> model = scmf.models.load(save_reference(net, vocab, os.path.join(tempfile.mkdtemp(), "tiny")))
    >>> cells = ad.AnnData(np.array([[1.0, 0.0], [2.0, 3.0]], dtype=np.float32), var=pd.DataFrame(index=["A", "B"]))
    >>> [ids.shape for ids, values, mask in tokenized_batches(model, cells, batch_size=2)]  # <cls> + genes, longest cell
    [(2, 3)]
    """
    from .._expression import expression_source, rows_csr

    X = rows_csr(expression_source(adata, layer), 0, adata.n_obs)
    plan = plan_tokens(adata, model, X, gene_key=gene_key)
    tok = model.tokenizer
    extra = {"obs": adata.obs} if hooks(tok).uses_obs else {}
    t = tok.encode(X, plan.match.token_ids, plan.scale, input_scale=plan.input_scale, **extra)
    return form_batches(t, tok, batch_size)[0]


def form_batches(t, tok, batch_size: int) -> tuple[list, list[np.ndarray], int]:
    """Batches ``(ids, values, mask)`` of a tokenised chunk, the cells of each, and the count of empty cells.

    Cells of similar length go together, each batch cut to its longest cell; a recipe whose
    embedding depends on the batch (``tok.batch_group``, UCE) keeps consecutive cells in
    batches of that size. An empty cell still attends to its first token.
    """
    group = hooks(tok).batch_group
    batch_size = int(group) if group else batch_size
    n_genes = t.n_genes if t.n_genes is not None else t.lengths - int(tok.add_cls) - int(tok.add_eos)
    empty = n_genes == 0
    mask = t.attention_mask
    mask[empty, 0] = True
    order = np.arange(t.lengths.size) if group else np.argsort(t.lengths, kind="stable")
    batches, index = [], []
    for b in range(0, order.size, batch_size):
        idx = order[b : b + batch_size]
        width = max(int(t.lengths[idx].max()), 1)
        batches.append((t.ids[idx, :width], t.values[idx, :width], mask[idx, :width]))
        index.append(idx)
    return batches, index, int(empty.sum())


def gene_module(model) -> Any:
    """``model``'s module, checked to give gene representations (``token_embeddings`` and ``token_states``)."""
    module = getattr(model, "module", None)
    if not isinstance(model, TokenizedModel) or not (
        callable(getattr(module, "token_embeddings", None))
        and callable(getattr(module, "token_states", None))
    ):
        msg = (
            f"{type(model).__name__} gives no gene representations: embed_genes needs a tokenised model "
            "(a checkpoint folder scmf loads, or a scmf.models.TokenizedModel whose module has "
            "token_embeddings(ids) and token_states(ids, values, mask))."
        )
        raise TypeError(msg)
    return module


def gene_input_embeddings(
    model: TokenizedModel, token_ids: np.ndarray, *, device: str = "auto"
) -> np.ndarray:
    """The model's input embedding of each data gene (``token_ids``: its token, ``-1`` none; NaN rows there).

    What :func:`scmf.tl.embed_genes` writes with ``mode="input"``.

    Examples
    --------
    >>> import os, tempfile, numpy as np, scmf
    >>> path = scmf.models.random_release("reference", os.path.join(tempfile.mkdtemp(), "tiny"), genes=["CD3E", "LYZ"])
    >>> model = scmf.models.load(path)
    >>> E = scmf.models.gene_input_embeddings(model, np.array([model.tokenizer.vocab.lookup("symbol")["LYZ"], -1]))
    >>> E.shape[0], bool(np.isnan(E[1]).all())
    (2, True)
    """
    import torch

    module = gene_module(model)
    dev = resolve_device(device)
    token_ids = np.asarray(hooks(model.tokenizer).model_tokens(np.asarray(token_ids, dtype=np.int64)))
    have = np.flatnonzero(token_ids >= 0)
    uniq, inverse = np.unique(token_ids[have], return_inverse=True)
    with running(model, dev):
        emb = module.token_embeddings(torch.from_numpy(uniq.astype(np.int64)).to(dev))
        emb = emb.detach().to("cpu", torch.float32).numpy()
    out = np.full((token_ids.size, emb.shape[1]), np.nan, dtype=np.float32)
    out[have] = emb[inverse]
    return out


def gene_contextual_embeddings(adata, model: TokenizedModel, *, layer, batch_size, device, gene_key, id_type,
                               input_scale, progress) -> tuple[np.ndarray, np.ndarray, dict]:  # fmt: skip
    """Each data gene's output state averaged over its occurrences in the cells (one per expressing cell,
    except in recipes that sample genes with replacement), streamed over row chunks as
    :func:`embed_tokenized` runs them. Returns ``(genes x d with NaN rows for genes never seen,
    occurrences per gene, params)``; what :func:`scmf.tl.embed_genes` writes with
    ``mode="contextual"``.

    Examples
    --------
    >>> import os, tempfile, scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced().raw.to_adata()[:50]
    >>> path = scmf.models.random_release("reference", os.path.join(tempfile.mkdtemp(), "tiny"), genes=adata)
    >>> E, seen, params = scmf.models.gene_contextual_embeddings(
    ...     adata, scmf.models.load(path), layer=None, batch_size=16, device="cpu", gene_key=None,
    ...     id_type="auto", input_scale="log1p", progress=False)
    >>> E.shape[0] == adata.n_vars, int(seen.max()) <= adata.n_obs
    (True, True)
    """
    import torch
    from tqdm.auto import tqdm

    from .._expression import expression_source

    module = gene_module(model)
    dev = resolve_device(device)
    tok = model.tokenizer
    h = hooks(tok)
    X = expression_source(adata, layer)
    n = adata.n_obs
    plan = plan_tokens(adata, model, X, gene_key=gene_key, id_type=id_type, input_scale=input_scale)
    token_ids = np.asarray(h.model_tokens(np.asarray(plan.match.token_ids, dtype=np.int64)))
    have = np.flatnonzero(token_ids >= 0)
    uniq, inverse = np.unique(token_ids[have], return_inverse=True)
    slot_of = torch.full((int(uniq.max()) + 2 if uniq.size else 1,), -1, dtype=torch.long)
    slot_of[torch.from_numpy(uniq)] = torch.arange(uniq.size)
    slot_of = slot_of.to(dev)
    sums: Any = None
    counts = torch.zeros(
        uniq.size + 1, dtype=torch.float64, device=dev
    )  # the last slot: tokens of no data gene
    if h.batch_group:
        batch_size = int(h.batch_group)
    bar = tqdm(total=n, disable=progress is False if progress is not None else None,
               desc="scmf.tl.embed_genes", unit="cell")  # fmt: skip
    try:
        with running(model, dev):
            for _, batches, _, _ in token_chunks(adata, model, X, plan, batch_size):
                for ids, values, mask in batches:
                    ids_t = torch.from_numpy(ids).to(dev)
                    states, keep = module.token_states(
                        ids_t, torch.from_numpy(values).to(dev), torch.from_numpy(mask).to(dev)
                    )
                    slot = slot_of[ids_t.clamp(0, slot_of.numel() - 1)]
                    slot = torch.where(
                        keep & (slot >= 0) & (ids_t < slot_of.numel()), slot, uniq.size
                    ).reshape(-1)
                    flat = states.reshape(-1, states.shape[-1]).to(torch.float64)
                    if sums is None:
                        sums = torch.zeros(uniq.size + 1, flat.shape[1], dtype=torch.float64, device=dev)
                    sums.index_add_(0, slot, flat)
                    counts.index_add_(0, slot, torch.ones_like(slot, dtype=torch.float64))
                    bar.update(ids.shape[0])
    finally:
        bar.close()
    d = 0 if sums is None else sums.shape[1]
    out = np.full((token_ids.size, d), np.nan, dtype=np.float32)
    seen = np.zeros(token_ids.size, dtype=np.int64)
    if sums is not None:
        c = counts[:-1].cpu().numpy()
        mean = (sums[:-1].cpu().numpy() / np.maximum(c, 1.0)[:, None]).astype(np.float32)
        mean[c == 0] = np.nan
        out[have] = mean[inverse]
        seen[have] = c[inverse].astype(np.int64)
    params = {
        **model.params(), "layer": layer, "batch_size": int(batch_size), "device": dev,
        "input_scale": plan.input_scale, "genes": plan.match.report(tok.vocab),
    }  # fmt: skip
    return out, seen, params
