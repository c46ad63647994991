"""Models in their own environment: files out, the authors' command, the embedding back.

The generic tests run stand-in commands with this interpreter (any interpreter is an
environment to scmf); the Stack test builds an isolated environment with the authors'
package and compares scmf's embedding with the authors' API called there directly.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import textwrap
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

import scmf
from helpers import counts_of
from scmf.models import ExternalRecipe

W_SEED = 5

# A stand-in model: log1p of the counts times a fixed random matrix, each context of
# ``--context`` consecutive cells shifted by its mean (so the order of the cells matters).
STANDIN = textwrap.dedent(
    """
    import sys, argparse
    import numpy as np, anndata as ad
    p = argparse.ArgumentParser()
    p.add_argument("input"); p.add_argument("output"); p.add_argument("--scale", type=float)
    p.add_argument("--context", type=int, default=0); p.add_argument("--reverse", action="store_true")
    p.add_argument("--fail", action="store_true"); p.add_argument("--sleep", type=float, default=0)
    a = p.parse_args()
    if a.fail:
        print("loading weights", file=sys.stderr); print("KeyError: 'encoder.weight'", file=sys.stderr); sys.exit(3)
    if a.sleep:
        import time; time.sleep(a.sleep)
    x = ad.read_h5ad(a.input)
    assert "donor" in x.obs.columns, "obs donor missing"
    w = np.random.default_rng(W_SEED).standard_normal((x.n_vars, 6))
    e = np.log1p(x.X.toarray()) @ w * a.scale
    if a.context:
        for s in range(0, x.n_obs, a.context):
            e[s : s + a.context] += e[s : s + a.context].mean(axis=0)
    out = ad.AnnData(X=np.zeros((x.n_obs, 1), dtype=np.float32), obs=x.obs[[]])
    out.obsm["X_emb"] = e
    if a.reverse:  # the cells handed back in another order
        out = out[::-1].copy()
    if a.output.endswith(".h5ad"):
        out.write_h5ad(a.output)
    else:  # .npy: one row short, for the shape check
        np.save(a.output, e[:-1])
    """
).replace("W_SEED", str(W_SEED))


def expected(X, scale=1.0, context=0, order=None):
    x = X.toarray() if sp.issparse(X) else np.asarray(X)
    order = np.arange(x.shape[0]) if order is None else order
    w = np.random.default_rng(W_SEED).standard_normal((x.shape[1], 6))
    e = np.log1p(x[order]) @ w * scale
    if context:
        for s in range(0, e.shape[0], context):
            e[s : s + context] += e[s : s + context].mean(axis=0)
    out = np.empty_like(e)
    out[order] = e
    return out.astype(np.float32)


@pytest.fixture(autouse=True)
def _trust_the_tests_own_folders(tmp_path, monkeypatch):
    """The folders these tests write run their own stand-in commands: trusted, as a user would
    list their own folders (the refusal of untrusted folders is tested in test_trust.py)."""
    monkeypatch.setenv("SCMF_TRUSTED_MODELS", str(tmp_path))


def folder_with(tmp_path, *, extra=(), output="h5ad", options=None, **spec):
    d = tmp_path / "standin"
    d.mkdir(parents=True, exist_ok=True)
    (d / "embed.py").write_text(STANDIN)
    cmd = ["{python}", "{script}", "{input}", "{output}", "--scale", "{scale}", *extra]
    y = {
        "name": "standin",
        "environment": sys.executable,
        "command": cmd,
        "files": {"script": "embed.py"},
        "options": {"scale": 2.0, **(options or {})},
        "output": output,
        "output_key": "X_emb" if output == "h5ad" else None,
        "obs": {"donor": None},
        "packages": ["anndata", "numpy"],
        **spec,
    }
    import yaml

    (d / "scmf_external.yaml").write_text(yaml.safe_dump(y))
    return d


@pytest.fixture
def cells(kang):
    a = counts_of(kang[:120])
    a.obs["donor"] = np.where(np.arange(a.n_obs) % 3 == 0, "d1", "d2")
    return a


def test_command_model_embeds_like_the_command_and_records_it(tmp_path, cells):
    d = folder_with(tmp_path)
    before = cells.copy()
    scmf.tl.embed(cells, d)
    np.testing.assert_allclose(cells.obsm["X_scmf"], expected(cells.X, 2.0), rtol=1e-5, atol=1e-5)
    p = cells.uns["scmf"]["params"]["X_scmf"]
    assert p["model"] == "standin"
    ext = p["external"]
    assert ext["python"] == sys.executable and ext["recipe"] == "standin"
    assert list(ext["command"][:2]) == ["{python}", "{script}"]
    assert ext["options"] == {"scale": 2.0}
    assert p["checkpoint"] == str(d)
    np.testing.assert_array_equal(cells.X.toarray(), before.X.toarray())  # the data untouched
    cells.write_h5ad(tmp_path / "shared.h5ad")  # the record survives the round trip
    back = ad.read_h5ad(tmp_path / "shared.h5ad").uns["scmf"]["params"]["X_scmf"]["external"]
    assert back["recipe"] == "standin" and str(back["python"]) == sys.executable
    assert list(cells.obs.columns) == list(before.obs.columns)
    # a loader option from tl.embed overrides the file's
    scmf.tl.embed(cells, d, options={"scale": 0.5}, key_added="X_half")
    np.testing.assert_allclose(cells.obsm["X_half"], expected(cells.X, 0.5), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="unknown options"):
        scmf.tl.embed(cells, d, options={"scael": 0.5})


@pytest.mark.slow
def test_cells_grouped_into_contexts_by_a_key_and_put_back(tmp_path, cells):
    d = folder_with(
        tmp_path, extra=["--context", "{context}"], options={"context": 16}, context_option="context"
    )
    scmf.tl.embed(cells, d, key_added="X_plain")
    np.testing.assert_allclose(cells.obsm["X_plain"], expected(cells.X, 2.0, 16), rtol=1e-5, atol=1e-4)
    scmf.tl.embed(cells, d, options={"context_key": "donor"}, key_added="X_grouped")
    order = np.argsort(np.asarray(cells.obs["donor"]), kind="stable")
    np.testing.assert_allclose(
        cells.obsm["X_grouped"], expected(cells.X, 2.0, 16, order), rtol=1e-5, atol=1e-4
    )
    ctx = cells.uns["scmf"]["params"]["X_grouped"]["external"]["context"]
    assert "16 consecutive cells" in ctx and "donor" in ctx


@pytest.mark.slow
def test_failures_are_clear_and_lose_nothing(tmp_path, cells, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    with pytest.raises(RuntimeError, match=r"exit status 3(.|\n)*KeyError: 'encoder.weight'"):
        scmf.tl.embed(cells, folder_with(tmp_path / "a", extra=["--fail"]))
    with pytest.raises(TimeoutError, match="timeout of 1 s"):
        scmf.tl.embed(cells, folder_with(tmp_path / "b", extra=["--sleep", "60"], timeout=1))
    with pytest.raises(ValueError, match="returned shape"):
        scmf.tl.embed(cells, folder_with(tmp_path / "c", output="npy"))
    with pytest.raises(ValueError, match="not the 120 it was given"):
        scmf.tl.embed(cells, folder_with(tmp_path / "d", extra=["--reverse"]))
    log = cells.copy()
    log.X = log.X.copy()
    log.X.data = np.log1p(log.X.data) * 0.7
    with pytest.raises(ValueError, match=r"reads raw counts.*layer="):
        scmf.tl.embed(log, folder_with(tmp_path / "e"))
    no_donor = cells.copy()
    del no_donor.obs["donor"]
    with pytest.raises(KeyError, match="needs obs\\['donor'\\]"):
        scmf.tl.embed(no_donor, folder_with(tmp_path / "f"))
    with pytest.raises(ValueError, match="input_scale must be"):
        scmf.tl.embed(cells, folder_with(tmp_path / "i"), input_scale="count")
    with pytest.raises(KeyError, match="gene_key='symbols' is not a column"):
        scmf.tl.embed(cells, folder_with(tmp_path / "h"), gene_key="symbols")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scmf.tl.embed(cells, folder_with(tmp_path / "g", environment=str(tmp_path / "nowhere")))
    assert "X_scmf" not in cells.obsm and "scmf" not in cells.uns
    assert list((tmp_path / "tmp").iterdir()) == []  # every exchange folder removed
    for p in (tmp_path / "a" / "standin").iterdir():
        assert p.name in ("embed.py", "scmf_external.yaml")


@pytest.mark.slow
def test_external_blocks_on_dask_equal_in_memory(tmp_path, cells):
    da = pytest.importorskip("dask.array")
    d = folder_with(
        tmp_path, extra=["--context", "{context}"], options={"context": 16}, context_option="context"
    )
    scmf.tl.embed(cells, d)
    lazy = cells.copy()
    lazy.X = da.from_array(cells.X, chunks=(50, -1))  # blocks rounded up to whole contexts (64)
    scmf.tl.embed(lazy, d)
    np.testing.assert_allclose(lazy.obsm["X_scmf"], cells.obsm["X_scmf"], rtol=1e-5, atol=1e-4)
    assert lazy.uns["scmf"]["params"]["X_scmf"]["n_blocks"] == 2
    with pytest.raises(ValueError, match="context_key groups all cells"):
        scmf.tl.embed(lazy, d, options={"context_key": "donor"}, key_added="X_grouped")


def test_python_api_and_listing(tmp_path, cells):
    rec = ExternalRecipe(
        name="py-standin",
        command=("{python}", "{script}", "{input}", "{output}", "--scale", "{scale}"),
        files=("script",),
        options={"scale": 1.0},
        obs={"donor": None},
        output="h5ad",
        output_key="X_emb",
    )
    (tmp_path / "embed.py").write_text(STANDIN)
    model = scmf.models.external(rec, environment=sys.executable, files={"script": tmp_path / "embed.py"})
    scmf.tl.embed(cells, model)
    np.testing.assert_allclose(cells.obsm["X_scmf"], expected(cells.X, 1.0), rtol=1e-5, atol=1e-5)
    assert "external" in scmf.models.formats()
    with pytest.raises(ValueError, match="unknown external recipe"):
        scmf.models.external("stak", environment=sys.executable)
    with pytest.raises(ValueError, match="needs the files"):
        scmf.models.external("stack", environment=sys.executable)
    with pytest.raises(ValueError, match="script or a command"):
        ExternalRecipe(name="x")


# ---------------------------------------------------------------- scPRINT, on a stand-in package

SCPRINT_STANDIN = {
    "scprint/__init__.py": """
        import json
        class scPrint:
            genes = None
            @classmethod
            def load_from_checkpoint(cls, path, precpt_gene_emb=None, map_location=None):
                m = cls(); m.seed = json.load(open(path))["seed"]; return m
        """,
    "scprint/tasks/__init__.py": """
        import numpy as np, torch
        class Embedder:
            def __init__(self, how, max_len, batch_size, num_workers, doclass, doplot, pred_embedding, dtype):
                assert how == "random expr" and num_workers == 0 and dtype == torch.float32
                self.max_len = max_len
            def __call__(self, model, adata, cache=False):
                assert (adata.obs["organism_ontology_term_id"] == "NCBITaxon:9606").all()
                assert adata.var_names[0].startswith("ENSG")
                w = np.random.default_rng(model.seed).standard_normal((adata.n_vars, 4))
                noise = torch.rand(adata.n_obs, 1).numpy()  # the sampling the recipe seeds
                adata.obsm["scprint_emb"] = np.log1p(adata.X.toarray()) @ w + noise
                return adata, {}
        """,
    "scdataloader/__init__.py": """
        class Preprocessor:
            def __init__(self, do_postp=False): pass
            def __call__(self, adata): return adata
        """,
}


@pytest.mark.slow
def test_scprint_recipe_runs_its_api_conventions_on_a_stand_in(tmp_path, cells, monkeypatch):
    """scPRINT pins torch 2.2 and numpy < 2 (its own environment; see the models docs). Its
    recipe script is run here unchanged against a stand-in package with scPRINT's interface:
    ``scPrint.load_from_checkpoint``, ``Embedder(...)(model, adata)`` filling
    ``obsm["scprint_emb"]``, the organism column, Ensembl ids, the seeded sampling."""
    torch = pytest.importorskip("torch")
    pkg = tmp_path / "pkgs"
    for rel, src in SCPRINT_STANDIN.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(textwrap.dedent(src))
    monkeypatch.setenv("PYTHONPATH", str(pkg))
    (tmp_path / "ckpt.json").write_text(json.dumps({"seed": 11}))
    cells = cells[:, :300].copy()
    cells.var_names = [f"ENSG{i:011d}" for i in range(cells.n_vars)]
    model = scmf.models.external(
        "scprint", environment=sys.executable, files={"checkpoint": tmp_path / "ckpt.json"}, seed=4
    )
    scmf.tl.embed(cells, model, device="cpu")
    torch.manual_seed(4)
    noise = torch.rand(cells.n_obs, 1).numpy()
    w = np.random.default_rng(11).standard_normal((cells.n_vars, 4))
    want = np.log1p(cells.X.toarray()) @ w + noise
    np.testing.assert_allclose(cells.obsm["X_scmf"], want, rtol=1e-5, atol=1e-5)
    info = cells.uns["scmf"]["params"]["X_scmf"]["external"]
    assert info["recipe"] == "scprint" and info["seed"] == 4 and info["info"]["device"] == "cpu"


# ---------------------------------------------------------------- environments


@pytest.mark.slow
def test_environment_created_once_and_a_failed_install_leaves_nothing(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from scmf.models import create_environment

    with ThreadPoolExecutor(2) as pool:  # two callers at once: one creates, the other waits and reuses
        env, again = pool.map(lambda _: create_environment(["six"], name="tiny", root=tmp_path), range(2))
    assert env.python.exists() and Path(env.source).parent == tmp_path
    assert again.python == env.python
    import subprocess

    out = subprocess.run(
        [str(env.python), "-c", "import six, sys; print(sys.prefix)"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == env.source
    with pytest.raises(RuntimeError, match="creating the environment failed"):
        create_environment(["scmf-no-such-package-anywhere==0.0.1"], name="broken", root=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        Path(env.source).name
    ]


# ---------------------------------------------------------------- Stack, on the authors' own package

STACK_REQUIREMENTS = ["torch==2.13.0", "arc-stack==0.1.3"]

STACK_MAKE = textwrap.dedent(
    """
    import pickle, sys, torch
    from stack.models.core import StateICLModel
    out, genes = sys.argv[1], sys.argv[2].split(",")
    cfg = dict(n_genes=len(genes), n_hidden=8, token_dim=8, n_cells=256, n_layers=2, n_heads=2, mlp_ratio=2,
               dropout=0.0, n_proj=8)
    torch.manual_seed(0)
    m = StateICLModel(**cfg)
    state = {"model." + k: v for k, v in m.state_dict().items()}
    torch.save({"hyper_parameters": {"model_config": cfg}, "state_dict": state}, out + "/model.ckpt")
    with open(out + "/genes.pkl", "wb") as f:
        pickle.dump(genes, f)
    """
)

STACK_AUTHORS = textwrap.dedent(
    """
    import sys, numpy as np, torch
    from stack.model_loading import load_model_from_checkpoint
    ckpt, genes, adata, out = sys.argv[1:5]
    model = load_model_from_checkpoint(ckpt, device=torch.device("cpu"))
    emb, _ = model.get_latent_representation(adata_path=adata, genelist_path=genes, batch_size=32,
                                             show_progress=False, num_workers=0, random_state=0)
    np.save(out, emb)
    """
)


def stack_environment():
    """The isolated environment with the authors' package, kept between runs under a folder
    this test names (``$SCMF_TEST_ENVS``, default ``~/.cache/scmf/test-envs``)."""
    from scmf.models import create_environment

    root = Path(os.environ.get("SCMF_TEST_ENVS") or Path.home() / ".cache" / "scmf" / "test-envs")
    return create_environment(STACK_REQUIREMENTS, name="stack-test", root=root)


@pytest.mark.slow
def test_stack_embedding_equals_the_authors_api_in_their_environment(tmp_path, kang):
    """A random-weight Stack checkpoint made by the authors' classes; scmf's embedding of 300
    real Kang cells (one full 256-cell context and an upsampled one) equals the authors'
    ``get_latent_representation`` called directly in that environment on the same cells."""
    import subprocess

    env = stack_environment()
    cells = counts_of(kang[:300])
    genes = [g.upper() for g in cells.var_names[::20][:300]]
    model_dir = tmp_path / "stack"
    model_dir.mkdir()
    (tmp_path / "make.py").write_text(STACK_MAKE)
    made = subprocess.run(
        [str(env.python), str(tmp_path / "make.py"), str(model_dir), ",".join(genes)],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    (model_dir / "scmf_external.yaml").write_text(
        f"recipe: stack\nenvironment: {env.source}\nfiles:\n  checkpoint: model.ckpt\n  genelist: genes.pkl\n"
    )
    before = cells.copy()
    scmf.tl.embed(cells, model_dir, device="cpu")
    got = cells.obsm["X_scmf"]

    cells.write_h5ad(tmp_path / "cells.h5ad")
    (tmp_path / "authors.py").write_text(STACK_AUTHORS)
    ref = subprocess.run(
        [str(env.python), str(tmp_path / "authors.py"), str(model_dir / "model.ckpt"), str(model_dir / "genes.pkl"),
         str(tmp_path / "cells.h5ad"), str(tmp_path / "ref.npy")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert ref.returncode == 0, ref.stderr[-2000:]
    want = np.load(tmp_path / "ref.npy")
    assert got.shape == want.shape == (300, 64)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert np.abs(got).max() > 0.1 and np.unique(got.round(4), axis=0).shape[0] == 300  # no degenerate output
    p = cells.uns["scmf"]["params"]["X_scmf"]["external"]
    assert p["recipe"] == "stack" and p["info"]["versions"]["arc-stack"] == "0.1.3"
    assert p["info"]["context_size"] == 256 and "256 consecutive cells" in p["context"]
    np.testing.assert_array_equal(cells.X.toarray(), before.X.toarray())

    # contexts follow the data's order: grouped by condition, the first context changes
    scmf.tl.embed(cells, model_dir, device="cpu", options={"context_key": "condition"}, key_added="X_grouped")
    assert not np.allclose(cells.obsm["X_grouped"], got, atol=1e-4)
    with pytest.raises(RuntimeError, match="context_size"):
        scmf.tl.embed(cells, model_dir, device="cpu", options={"context_size": 128}, key_added="X_bad")


def test_command_line_benchmarks_an_external_model(tmp_path, cells):
    from scmf.cli import main

    d = folder_with(tmp_path)
    cells.obs["cell_type"] = cells.obs["cell_type"].astype(str)
    cells.write_h5ad(tmp_path / "cells.h5ad")
    (tmp_path / "c.yaml").write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {label_key: cell_type, n_splits: 2}\n"
    )
    out = tmp_path / "r.json"
    rc = main(
        ["benchmark", "--config", str(tmp_path / "c.yaml"), "--model", str(d), "--data", str(tmp_path / "cells.h5ad"),
         "--output", str(out), "--write-h5ad", str(tmp_path / "evaluated")]
    )  # fmt: skip
    assert rc == 0
    records = json.loads(out.read_text())
    assert [(r["benchmark_name"], r["rep"]) for r in records] == [("linear_probe", "X_standin")]
    back = ad.read_h5ad(next((tmp_path / "evaluated").glob("*.h5ad")))
    np.testing.assert_allclose(back.obsm["X_standin"], expected(cells.X, 2.0), rtol=1e-5, atol=1e-5)
    assert back.uns["scmf"]["params"]["X_standin"]["external"]["recipe"] == "standin"
