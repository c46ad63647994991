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


def _writer(tmp_path):
    import subprocess
    import sys

    script = (
        "import sys, time\n"
        "from scmf._io import write_atomic\n"
        "def w(tmp):\n"
        "    open(tmp, 'w').write('x' * 100000)\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        "write_atomic(sys.argv[1], w)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "out.json")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_sigterm_and_sigkill_leave_no_temporary(tmp_path):
    """SIGTERM (timeout, Slurm, docker stop) mid-write removes the temporary and exits as terminated;
    after SIGKILL the next write removes the dead writer's temporary."""
    import signal

    from scmf._io import write_text_atomic

    (tmp_path / "out.json").write_text("earlier")
    proc = _writer(tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    assert (tmp_path / "out.json").read_text() == "earlier"  # the earlier file is intact
    proc = _writer(tmp_path)
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
