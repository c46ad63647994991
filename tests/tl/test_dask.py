"""Embedding a lazily read store block by block, in process and on a 2-worker local cluster."""

from __future__ import annotations

import numpy as np
import pytest

import scmf

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster_client():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit="3GiB",
        ) as cluster,
        Client(cluster, timeout="60s") as client,
    ):
        yield client


@pytest.fixture(scope="module")
def stores(tmp_path_factory, kang):
    """198 Kang cells (log1p, CSR) written as .h5ad and .zarr, and the in-memory copy."""
    adata = kang[::10].copy()
    folder = tmp_path_factory.mktemp("stores")
    adata.write_h5ad(folder / "kang.h5ad")
    adata.write_zarr(folder / "kang.zarr")
    return adata, folder


def _lazy(folder, suffix, chunk=64):
    lazy = scmf.datasets.read_lazy(folder / f"kang{suffix}", chunk_size=chunk)
    assert type(lazy.X).__module__.startswith("dask")
    return lazy


def test_read_lazy_reads_nothing_and_keeps_names(stores):
    adata, folder = stores
    lazy = _lazy(folder, ".h5ad")
    assert lazy.X.chunks[0] == (64, 64, 64, 6)
    assert list(lazy.var_names) == list(adata.var_names)
    assert (lazy.obs["cell_type"] == adata.obs["cell_type"]).all()
    assert abs(lazy.X.blocks[1].compute() - adata.X[64:128]).max() == 0
    with pytest.raises(KeyError, match="has no 'layers/counts'"):
        scmf.datasets.read_lazy(folder / "kang.h5ad", layer="counts")


def test_in_process_blocks_equal_in_memory(stores, ref_checkpoint):
    adata, folder = stores
    ref = adata.copy()
    scmf.tl.embed(ref, ref_checkpoint, input_scale="log1p")
    lazy = _lazy(folder, ".h5ad")
    scmf.tl.embed(lazy, ref_checkpoint, input_scale="log1p")
    np.testing.assert_allclose(lazy.obsm["X_scmf"], ref.obsm["X_scmf"], atol=1e-6)
    p = lazy.uns["scmf"]["params"]["X_scmf"]
    assert p["execution"] == "in process" and p["n_blocks"] == 4
    assert p["genes"] == ref.uns["scmf"]["params"]["X_scmf"]["genes"]


def test_pca_on_dask_is_refused_with_a_way_out(stores):
    _, folder = stores
    with pytest.raises(ValueError, match="to_memory"):
        scmf.tl.embed(_lazy(folder, ".zarr"), "pca")


@pytest.mark.slow
def test_cluster_equals_in_process(stores, ref_checkpoint, geneformer_dir, cluster_client):
    adata, folder = stores
    for suffix in (".h5ad", ".zarr"):
        for model, kw in (
            (ref_checkpoint, {"input_scale": "log1p"}),
            (geneformer_dir, {"input_scale": "log1p"}),
        ):
            ref = adata.copy()
            scmf.tl.embed(ref, model, **kw)
            lazy = _lazy(folder, suffix)
            scmf.tl.embed(lazy, model, **kw)  # the active client is used
            p = lazy.uns["scmf"]["params"]["X_scmf"]
            assert p["execution"].startswith("dask.distributed scheduler tcp://127.0.0.1")
            assert p["n_blocks"] == 4
            np.testing.assert_allclose(lazy.obsm["X_scmf"], ref.obsm["X_scmf"], atol=1e-6)
    # the random baseline reads no expression: the same array whatever the input
    lazy, ref = _lazy(folder, ".zarr"), adata.copy()
    scmf.tl.embed(lazy, "random", n_comps=8, seed=3)
    scmf.tl.embed(ref, "random", n_comps=8, seed=3)
    np.testing.assert_array_equal(lazy.obsm["X_scmf"], ref.obsm["X_scmf"])
    # both workers took part (the model went to each)
    assert len(cluster_client.scheduler_info()["workers"]) == 2


@pytest.mark.slow
def test_cluster_writes_zarr_block_by_block(stores, ref_checkpoint, cluster_client, tmp_path):
    import zarr

    adata, folder = stores
    ref = adata.copy()
    scmf.tl.embed(ref, ref_checkpoint, input_scale="log1p")
    lazy = _lazy(folder, ".h5ad", chunk=50)
    out = tmp_path / "emb.zarr"
    scmf.tl.embed(lazy, ref_checkpoint, input_scale="log1p", zarr_store=out, client=cluster_client)
    emb = lazy.obsm["X_scmf"]
    assert type(emb).__module__.startswith("dask")  # lazy: read from the store
    stored = zarr.open_array(str(out), mode="r")
    assert stored.chunks[0] == 50 and stored.shape == ref.obsm["X_scmf"].shape
    np.testing.assert_allclose(np.asarray(stored), ref.obsm["X_scmf"], atol=1e-6)
    np.testing.assert_allclose(emb.compute(), ref.obsm["X_scmf"], atol=1e-6)
    # chains into scanpy like any embedding
    import scanpy as sc

    lazy.obsm["X_scmf"] = emb.compute()
    sc.pp.neighbors(lazy, use_rep="X_scmf", n_neighbors=10)
    assert lazy.obsp["connectivities"].shape == (adata.n_obs, adata.n_obs)


@pytest.mark.slow
def test_explicit_client_with_in_memory_data(stores, ref_checkpoint, cluster_client):
    adata, _ = stores
    ref = adata.copy()
    scmf.tl.embed(ref, ref_checkpoint, input_scale="log1p")
    other = adata.copy()
    scmf.tl.embed(other, ref_checkpoint, input_scale="log1p", client=cluster_client, block_size=80)
    assert other.uns["scmf"]["params"]["X_scmf"]["n_blocks"] == 3
    np.testing.assert_allclose(other.obsm["X_scmf"], ref.obsm["X_scmf"], atol=1e-6)
    assert not type(other.X).__module__.startswith("dask")  # user data untouched


@pytest.mark.slow
def test_cli_embeds_on_a_running_scheduler(stores, ref_checkpoint, cluster_client, tmp_path, capsys):
    import anndata as ad
    import pandas as pd

    from scmf.cli import main

    adata, folder = stores
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {cell_type_key: cell_type}\n"
    )
    runs = {}
    for name, extra in (("local", []), ("cluster", ["--scheduler", cluster_client.scheduler.address])):
        out = tmp_path / f"{name}.json"
        args = [
            "benchmark",
            "--config",
            str(cfg),
            "--model",
            str(ref_checkpoint),
            "--data",
            str(folder / "kang.h5ad"),
        ]
        args += ["--output", str(out), "--write-h5ad", str(tmp_path / name), "--input-scale", "log1p", *extra]
        assert main(args) == 0, capsys.readouterr().err
        runs[name] = (scmf.bm.read_json(out), ad.read_h5ad(tmp_path / name / "kang.h5ad"))
    (t_local, a_local), (t_cluster, a_cluster) = runs["local"], runs["cluster"]
    key = "X_reference"  # the CLI names the model's representation after its checkpoint folder
    assert a_cluster.uns["scmf"]["params"][key]["execution"].startswith("dask.distributed scheduler")
    np.testing.assert_allclose(a_cluster.obsm[key], a_local.obsm[key], atol=1e-6)
    pd.testing.assert_series_equal(t_cluster["value"], t_local["value"], atol=1e-6)
    assert a_cluster.n_obs == adata.n_obs
    # a scheduler that is not there: one clear line, exit 1
    code = main(["benchmark", "--config", str(cfg), "--model", str(ref_checkpoint), "--data",
                 str(folder / "kang.h5ad"), "--output", str(tmp_path / "x.json"), "--scheduler", "tcp://127.0.0.1:9"])  # fmt: skip
    assert code == 1 and "could not connect to the dask scheduler" in capsys.readouterr().err


def test_zarr_store_for_in_memory_results(stores, tmp_path):
    adata, folder = stores
    ref = adata.copy()
    scmf.tl.embed(ref, "random", n_comps=6, seed=1)
    for data, name in ((_lazy(folder, ".zarr"), "lazy"), (adata.copy(), "memory")):
        scmf.tl.embed(data, "random", n_comps=6, seed=1, zarr_store=tmp_path / f"{name}.zarr")
        emb = data.obsm["X_scmf"]
        assert type(emb).__module__.startswith("dask")
        np.testing.assert_array_equal(emb.compute(), ref.obsm["X_scmf"])
        assert data.uns["scmf"]["params"]["X_scmf"]["zarr_store"] == str(tmp_path / f"{name}.zarr")


# --- one model, one seed, every route -------------------------------------------------------

ROUTE_KEYS = ("execution", "n_blocks", "block_seconds")  # how a run went, recorded beside the params


def _release_makers():
    """The parity tests' tiny scGPT and UCE releases (written by the authors' own classes)."""
    from pathlib import Path

    import authors

    here = Path(__file__).resolve().parents[1] / "models"
    return (
        authors.load_module("scmf_tests_scgpt", here / "test_scgpt.py"),
        authors.load_module("scmf_tests_uce", here / "test_uce.py"),
    )


def _params(adata):
    p = dict(adata.uns["scmf"]["params"]["X_scmf"])
    return {k: v for k, v in p.items() if k not in ROUTE_KEYS}


@pytest.mark.slow
def test_seeded_sampling_recipes_agree_on_every_route(
    kang, data_dir, cluster_client, tmp_path, tmp_path_factory, capsys
):
    """scGPT (sampling above max_length, random bin ties) and UCE (sampled sentences, batches of 25):
    the same seed gives the same embedding and the same recorded params in memory, block by block in
    process, on a LocalCluster, through evaluate and through the CLI."""
    import anndata as ad

    from helpers import counts_of
    from scmf.cli import main

    t_scgpt, t_uce = _release_makers()
    authors_dir = tmp_path_factory.mktemp("authors")
    cells = counts_of(kang[:120])  # UCE samples by counts; scGPT bins whatever it is given
    cells.obs["label"] = kang.obs["cell_type"].to_numpy()[:120]
    path = tmp_path / "cells.h5ad"
    cells.write_h5ad(path)
    (tmp_path / "s").mkdir()
    vocab = data_dir / "scgpt_default_gene_vocab.json"
    scgpt_dir, _, _ = t_scgpt._release(tmp_path / "s", t_scgpt.authors.scgpt(authors_dir), vocab)
    uce_dir, _, _ = t_uce._release(tmp_path / "u", t_uce.authors.uce(authors_dir), list(cells.var_names))
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {cell_type_key: label, n_splits: 2}\n"
    )
    for release, options in ((scgpt_dir, {"max_length": 60}), (uce_dir, {})):
        model = scmf.models.resolve(release, seed=3, **options)
        memory = cells.copy()
        scmf.tl.embed(memory, model, input_scale="counts")
        want, want_params = memory.obsm["X_scmf"], _params(memory)
        assert want_params["seed"] == 3 and want_params["tokenizer"]["seed"] == 3
        other = cells.copy()
        scmf.tl.embed(other, scmf.models.resolve(release, seed=0, **options), input_scale="counts")
        assert not np.allclose(other.obsm["X_scmf"], want)  # the seed matters
        if not options:  # a path goes through the same resolve
            by_path = cells.copy()
            scmf.tl.embed(by_path, str(release), seed=3, input_scale="counts")
            np.testing.assert_array_equal(by_path.obsm["X_scmf"], want)
            assert _params(by_path) == want_params
        routes = {}
        in_process = scmf.datasets.read_lazy(path, chunk_size=32)
        scmf.tl.embed(in_process, scmf.models.resolve(release, seed=3, **options), input_scale="counts")
        routes["in process"] = in_process
        if not options:  # the path itself, block by block: the seed reaches the loader here too
            lazy_path = scmf.datasets.read_lazy(path, chunk_size=32)
            scmf.tl.embed(lazy_path, str(release), seed=3, input_scale="counts")
            routes["in process, by path"] = lazy_path
        on_cluster = scmf.datasets.read_lazy(path, chunk_size=32)
        scmf.tl.embed(on_cluster, scmf.models.resolve(release, seed=3, **options), input_scale="counts",
                      client=cluster_client)  # fmt: skip
        assert on_cluster.uns["scmf"]["params"]["X_scmf"]["execution"].startswith("dask.distributed")
        routes["cluster"] = on_cluster
        report = scmf.bm.evaluate({"cells": cells.copy()}, cfg, model=release if not options else
                                  scmf.models.resolve(release, seed=3, **options), seed=3,
                                  input_scale="counts", progress=False)  # fmt: skip
        routes["evaluate"] = report.datasets["cells"]
        cli = ["benchmark", "--config", str(cfg), "--model", str(release), "--data", str(path), "--seed", "3",
               "--output", str(tmp_path / "out.json"), "--write-h5ad", str(tmp_path / "cli"), "--input-scale", "counts"]  # fmt: skip
        for k, v in options.items():
            cli += ["--model-option", f"{k}={v}"]
        assert main(cli) == 0, capsys.readouterr().err
        cli_out = ad.read_h5ad(tmp_path / "cli" / "cells.h5ad")
        key = f"X_{release.name}"  # the CLI names the representation after the checkpoint folder
        cli_out.obsm["X_scmf"] = cli_out.obsm[key]
        cli_out.uns["scmf"]["params"]["X_scmf"] = cli_out.uns["scmf"]["params"][key]
        routes["cli"] = cli_out
        for name, a in routes.items():
            np.testing.assert_allclose(a.obsm["X_scmf"], want, atol=1e-6, err_msg=f"{release.name}: {name}")
            got = _params(a)
            assert got == want_params, f"{release.name}: {name} recorded {got} != {want_params}"
