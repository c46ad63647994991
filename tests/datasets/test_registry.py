"""The dataset registry: SCMF_DATA_DIR, checksums, and the real download path over local HTTP."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading

import pytest

import scmf
from scmf.datasets import fetch, load, registry


@pytest.fixture
def serve():
    """Serve a folder on 127.0.0.1 (a random port); yields a function folder -> base URL."""
    servers = []

    def start(folder):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a, **k: None
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}/"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_registry_matches_manifest(data_dir):
    manifest = (data_dir / "MANIFEST.md").read_text()
    for e in registry().values():
        assert e.filename in manifest and e.sha256 in manifest
        assert hashlib.sha256((data_dir / e.filename).read_bytes()).hexdigest() == e.sha256
        assert e.citation and e.license and e.shape


def test_data_dir_means_no_download(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("SCMF_DATA_DIR", str(data_dir))
    assert (
        fetch("kang2018", cache_dir=tmp_path, base_url="http://127.0.0.1:9/")
        == data_dir / "kang2018_ifnb_scgen_valid.h5ad"
    )
    assert not list(tmp_path.iterdir())
    a = load("kang2018")
    assert a.shape == (1975, 6998)


@pytest.mark.parametrize(
    "name", ["kang2018", "dorothea_hs", "geneformer_gc95M_vocab", "scgpt_vocab", "norman2019_perturbench"]
)
def test_download_from_local_mirror(name, data_dir, serve, monkeypatch, tmp_path):
    base = serve(data_dir)
    monkeypatch.delenv("SCMF_DATA_DIR", raising=False)
    cache = tmp_path / "cache"
    path = fetch(name, cache_dir=cache, base_url=base)
    assert path.parent == cache and path.read_bytes() == (data_dir / registry()[name].filename).read_bytes()
    # second call: from the cache, the server is not needed
    assert fetch(name, cache_dir=cache, base_url="http://127.0.0.1:9/") == path
    obj = load(name, cache_dir=cache)
    if name == "geneformer_gc95M_vocab":
        assert len(obj) == 20275
    elif name == "dorothea_hs":
        assert list(obj.columns) == ["tf", "confidence", "target", "mor"]


def test_checksum_mismatch_on_download_is_discarded(data_dir, serve, monkeypatch, tmp_path):
    bad = tmp_path / "mirror"
    bad.mkdir()
    data = bytearray((data_dir / "kang2018_ifnb_scgen_valid.h5ad").read_bytes())
    data[5000] ^= 0xFF
    (bad / "kang2018_ifnb_scgen_valid.h5ad").write_bytes(bytes(data))
    base = serve(bad)
    monkeypatch.delenv("SCMF_DATA_DIR", raising=False)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="sha256 check and was discarded"):
        fetch("kang2018", cache_dir=cache, base_url=base)
    assert not (cache / "kang2018_ifnb_scgen_valid.h5ad").exists()


def test_checksum_mismatch_in_data_dir(data_dir, monkeypatch, tmp_path):
    local = tmp_path / "data"
    local.mkdir()
    shutil.copy(data_dir / "dorothea_hs.tsv.gz", local / "dorothea_hs.tsv.gz")
    with (local / "dorothea_hs.tsv.gz").open("ab") as fh:
        fh.write(b"x")
    monkeypatch.setenv("SCMF_DATA_DIR", str(local))
    with pytest.raises(ValueError, match="it is not used"):
        load("dorothea_hs")


def test_converted_dataset_without_mirror(monkeypatch, tmp_path):
    monkeypatch.delenv("SCMF_DATA_DIR", raising=False)
    monkeypatch.delenv("SCMF_DATA_URL", raising=False)
    with pytest.raises(FileNotFoundError, match="no direct download"):
        fetch("dorothea_hs", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset"):
        fetch("nope")
    assert scmf.datasets.load("pbmc68k").n_obs == 700


def test_offline_download_is_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("SCMF_DATA_DIR", raising=False)
    with pytest.raises(ConnectionError) as e:
        scmf.datasets.fetch("kang2018", base_url="http://127.0.0.1:9", cache_dir=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 500
    assert "SCMF_DATA_DIR" in msg and "SCMF_DATA_URL" in msg and str(tmp_path) in msg
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_loading_a_registered_dataset_is_quiet(data_dir):
    """anndata's FutureWarning about the published file's old .uns layout is not the user's concern."""
    import warnings

    import scmf

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        scmf.datasets.load("kang2018")
    assert not [x for x in w if "Moving element" in str(x.message)]
