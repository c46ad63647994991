"""Files written atomically get the permissions a plain open() gives: the umask, or the file's own."""

from __future__ import annotations

import os
import stat

import pytest

import scmf
from scmf._io import write_text_atomic
from scmf.cli import main


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_atomic_write_respects_umask(tmp_path, umask_022):
    p = write_text_atomic(tmp_path / "a.json", "{}")
    with open(tmp_path / "plain.json", "w") as f:
        f.write("{}")
    assert _mode(p) == _mode(tmp_path / "plain.json") == 0o644
    os.umask(0o077)
    assert _mode(write_text_atomic(tmp_path / "b.json", "{}")) == 0o600
    os.chmod(p, 0o664)  # an existing file keeps its mode when rewritten
    write_text_atomic(p, "[]")
    assert _mode(p) == 0o664 and p.read_text() == "[]"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.json", "b.json", "plain.json"]  # no temp left


def test_results_json_and_cli_outputs_are_readable_by_others(tmp_path, pbmc, umask_022):
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca", n_splits=1)
    scmf.bm.to_json(pbmc, tmp_path / "r.json")
    assert _mode(tmp_path / "r.json") == 0o644
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {cell_type_key: bulk_labels, n_splits: 1}\n"
    )
    pbmc.write_h5ad(tmp_path / "pbmc.h5ad")
    code = main(
        ["benchmark", "--config", str(cfg), "--model", "pca", "--data", str(tmp_path / "pbmc.h5ad"),
         "--output", str(tmp_path / "out.json"), "--write-h5ad", str(tmp_path / "h5")]
    )  # fmt: skip
    assert code == 0
    assert _mode(tmp_path / "out.json") == 0o644
    assert _mode(tmp_path / "h5" / "pbmc.h5ad") == _mode(tmp_path / "pbmc.h5ad") == 0o644


def _writer(target, folder: bool = False):
    """A process that is writing ``target`` (a file, or a folder) when this returns: it has
    written 100 kB of its temporary and then waits to be signalled."""
    import subprocess
    import sys

    writer, write = (
        ("write_folder_atomic", "(tmp / 'weights.pt').write_bytes(b'x' * 100000)")
        if folder
        else ("write_atomic", "open(tmp, 'w').write('x' * 100000)")
    )
    script = (
        f"import sys, time\nfrom scmf._io import {writer}\n"
        f"def w(tmp):\n    {write}\n    print('ready', flush=True)\n    time.sleep(60)\n"
        f"{writer}(sys.argv[1], w)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_sigterm_and_sigkill_leave_no_temporary(tmp_path):
    """SIGTERM (timeout, Slurm, docker stop) mid-write removes the temporary and exits as terminated;
    after SIGKILL the next write removes the dead writer's temporary."""
    import signal

    from scmf._io import write_text_atomic

    (tmp_path / "out.json").write_text("earlier")
    proc = _writer(tmp_path / "out.json")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    assert (tmp_path / "out.json").read_text() == "earlier"  # the earlier file is intact
    proc = _writer(tmp_path / "out.json")
    proc.kill()
    proc.wait(timeout=30)
    assert len(list(tmp_path.glob(".out.json.*"))) == 1  # SIGKILL cannot be caught
    write_text_atomic(tmp_path / "out.json", "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]  # the dead writer's temporary is gone
    assert (tmp_path / "out.json").read_text() == "new"


def test_links_are_written_through_and_special_files_refused(tmp_path):
    import os

    from scmf._io import write_text_atomic

    (tmp_path / "real.json").write_text("old")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    write_text_atomic(tmp_path / "link.json", "new")
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "real.json").read_text() == "new"
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ValueError, match="not a regular file"):
        write_text_atomic(tmp_path / "pipe", "x")
    assert not (tmp_path / "pipe").is_file()
    with pytest.raises(ValueError, match="a folder"):
        write_text_atomic(tmp_path, "x")


def test_folders_appear_whole_or_not_at_all(tmp_path):
    """A folder output (a model release, a zarr store) is written under a temporary name and
    renamed when complete: a failure, SIGTERM or SIGKILL leaves no half folder, and nothing that
    exists is replaced."""
    import signal

    from scmf._io import write_folder_atomic

    def fails(tmp):
        (tmp / "a.txt").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_folder_atomic(tmp_path / "model", fails)
    assert list(tmp_path.iterdir()) == []
    proc = _writer(tmp_path / "model", folder=True)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
    proc = _writer(tmp_path / "model", folder=True)
    proc.kill()
    proc.wait(timeout=30)
    assert len(list(tmp_path.glob(".model.*"))) == 1  # SIGKILL cannot be caught...
    write_folder_atomic(tmp_path / "model", lambda tmp: (tmp / "ok.txt").write_text("whole"))
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # ...the next write removes it
    assert (tmp_path / "model" / "ok.txt").read_text() == "whole"
    with pytest.raises(FileExistsError, match="replaces nothing"):
        write_folder_atomic(tmp_path / "model", lambda tmp: None)
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["ok.txt"]


def test_an_existing_zarr_store_is_refused_before_any_work(tmp_path, pbmc):
    pytest.importorskip("zarr")
    import numpy as np

    store = tmp_path / "emb.zarr"
    scmf.tl.embed(pbmc, "random", n_comps=4, seed=0, zarr_store=store)
    first = np.asarray(pbmc.obsm["X_scmf"])
    with pytest.raises(FileExistsError, match=r"emb\.zarr exists"):
        scmf.tl.embed(pbmc, "random", n_comps=4, seed=1, zarr_store=store, key_added="X_other")
    assert "X_other" not in pbmc.obsm
    np.testing.assert_array_equal(
        np.asarray(pbmc.obsm["X_scmf"]), first
    )  # the store still reads the first run
    assert [p.name for p in tmp_path.iterdir()] == ["emb.zarr"]


_WRITES = {
    "open",
    "write_text",
    "write_bytes",
    "save",
    "savefig",
    "to_csv",
    "dump",
    "write_h5ad",
    "open_array",
}
_WRITERS = {"write_atomic", "write_folder_atomic", "staged_folder"}
# functions that write only inside a folder a writer staged for them (and are called only so)
_INSIDE_STAGED = {
    "models/_random.py": "write_",  # each format's writer, called by random_release in write_folder_atomic
    "tl/_dask.py": (
        "_create_store",
        "_embed_block",
    ),  # the zarr store staged by embed_blocks / workers' blocks
}


def _called(node) -> str | None:
    return getattr(node.func, "attr", getattr(node.func, "id", None))


def test_every_file_is_written_through_the_one_writer():
    """Outside ``_io.py``, a call that writes a file sits in a function handed to the atomic
    writer, in a ``with staged_folder(...)`` block, or in a function that only writes inside a
    folder staged for it; a new direct write fails this test."""
    import ast
    from pathlib import Path

    root = Path(scmf.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel == "_io.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        handed = set()  # functions (by name) and lambdas (by id) passed to a writer in this module
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _called(node) in _WRITERS:
                handed |= {a.id for a in node.args if isinstance(a, ast.Name)}
                handed |= {id(a) for a in node.args if isinstance(a, ast.Lambda)}
        parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
        buffers = {  # names bound to in-memory files (io.BytesIO()): writing them writes no file
            t.id
            for n in ast.walk(tree)
            if isinstance(n, ast.Assign)
            and isinstance(n.value, ast.Call)
            and _called(n.value) in ("BytesIO", "StringIO")
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _writes(node)):
                continue
            if node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in buffers:
                continue
            scope, inside = node, False
            while scope in parents and not inside:
                scope = parents[scope]
                is_def = isinstance(scope, ast.FunctionDef)
                inside = (
                    (is_def and scope.name in handed)
                    or id(scope) in handed
                    or (isinstance(scope, ast.With) and any(
                        isinstance(i.context_expr, ast.Call) and _called(i.context_expr) in _WRITERS
                        for i in scope.items))
                    or (is_def and rel in _INSIDE_STAGED and scope.name.startswith(_INSIDE_STAGED[rel]))
                )  # fmt: skip
            if not inside:
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, f"direct file writes outside scmf._io's writers: {offenders}"


def _writes(node) -> bool:
    """Whether this call writes a file: ``open`` with a w/a/x mode, ``save``/``dump`` of torch,
    numpy, pickle or json, an AnnData's own ``write_h5ad`` (not scmf's), a zarr array opened to write."""
    import ast

    name = _called(node)
    if name == "open":
        modes = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
        modes += [
            k.value.value for k in node.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)
        ]
        return any(isinstance(m, str) and set(m) & set("wax") for m in modes)
    if name == "open_array":
        return any(k.arg == "mode" and getattr(k.value, "value", "r") != "r" for k in node.keywords)
    if name in {"save", "dump"}:
        owner = getattr(node.func, "value", None)
        return getattr(owner, "id", "") in {"torch", "np", "numpy", "pickle", "json"}
    if name == "write_h5ad":
        return isinstance(node.func, ast.Attribute)  # scmf._io.write_h5ad is the writer itself
    return name in _WRITES
