"""Models that run in their own Python environment, exchanging files with scmf.

Some published models cannot share an environment with scmf (pinned torch or numpy, a
non-commercial license one should not install everywhere, heavy service dependencies). An
:class:`ExternalModel` runs the authors' own package with another interpreter: scmf writes
the cells (only what the model reads) to a temporary ``.h5ad``, runs the recipe's script or
command line in that environment with a timeout, reads the embedding back, checks its shape,
order and values, and records the environment (interpreter, package versions, command) in
the embedding's parameters, as it records any model's.

A model folder holds a ``scmf_external.yaml`` (see :data:`RECIPE_FILE`) naming a built-in
recipe (``stack``, ``scprint``) or describing a command line; ``scmf.models.load`` and every
route through :func:`scmf.models.resolve` read it. :func:`external` builds the same object in
Python.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._external_recipes import RECIPES, ExternalRecipe

RECIPE_FILE = "scmf_external.yaml"
_COMPLETE = ".scmf-environment.json"  # written last into an environment scmf created


# ---------------------------------------------------------------- environments


@dataclass(frozen=True)
class Environment:
    """A Python interpreter of another environment (``python``) and where it came from."""

    python: Path
    source: str

    def describe(self) -> dict[str, str]:
        return {"python": str(self.python), "environment": self.source}


def resolve_environment(
    spec: str | os.PathLike | Mapping[str, Any], *, recipe: ExternalRecipe | None = None
) -> Environment:
    """The interpreter an external model runs with.

    ``spec``: an interpreter's path; a virtual environment or conda prefix (its
    ``bin/python``); or ``"create"`` / ``{"requirements": [...]}`` for one scmf creates with
    ``venv`` and ``pip`` (``uv`` when on the PATH) on first use and keeps under
    ``$SCMF_ENV_DIR`` (default ``~/.cache/scmf/envs``), named by what it holds.
    """
    if isinstance(spec, Mapping) or (isinstance(spec, str) and spec == "create"):
        reqs = _requirements(spec.get("requirements", ())) if isinstance(spec, Mapping) else []
        if not reqs and recipe is not None:
            reqs = list(recipe.requirements)
        if not reqs:
            msg = "environment 'create' needs requirements (a list of pip requirement strings)."
            raise ValueError(msg)
        root = spec.get("root") if isinstance(spec, Mapping) else None
        name = recipe.name if recipe is not None else "external"
        return create_environment(reqs, name=name, root=root)
    p = Path(spec).expanduser()
    if p.is_dir():
        for cand in (p / "bin" / "python", p / "Scripts" / "python.exe", p / "python.exe"):
            if cand.exists():
                return Environment(cand, str(p))
        msg = f"{p} is a folder without bin/python: pass a virtual environment, a conda prefix or an interpreter."
        raise FileNotFoundError(msg)
    if not p.exists():
        msg = (
            f"the external model's environment {str(p)!r} does not exist: create it (python -m venv, conda "
            "create) and install the model's package there, or use environment: create with requirements."
        )
        raise FileNotFoundError(msg)
    return Environment(p, str(p))


def _requirements(value: Any) -> list[str]:
    """Pip requirement strings, checked: a list of non-empty strings (a bare string is refused,
    never split into characters)."""
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        msg = (
            f'environment requirements must be a list of pip requirement strings (e.g. ["numpy>=1.26"]), '
            f"got {type(value).__name__} {value!r}."
        )
        raise TypeError(msg)
    bad = [r for r in value if not isinstance(r, str) or not r.strip()]
    if bad:
        msg = f"environment requirements must be non-empty strings; got {bad!r}."
        raise TypeError(msg)
    return [str(r) for r in value]


def create_environment(
    requirements: list[str],
    *,
    name: str = "external",
    root: str | os.PathLike | None = None,
    python: str | os.PathLike = sys.executable,
    timeout: float = 3600,
) -> Environment:
    """A virtual environment holding ``requirements``, created on first use and reused after.

    Its folder, ``<root>/<name>-<hash>``, is named by the requirements and the base
    interpreter, and written as a staged folder: a failed or killed install leaves nothing
    that a later call could mistake for a finished one.

    Examples
    --------
    >>> from scmf.models import create_environment
    >>> env = create_environment(["arc-stack==0.1.3"], name="stack")  # doctest: +SKIP
    >>> env.python.name  # doctest: +SKIP
    'python'
    """
    requirements = _requirements(requirements)
    root = Path(root or os.environ.get("SCMF_ENV_DIR") or Path.home() / ".cache" / "scmf" / "envs")
    base = Path(python)
    key = hashlib.sha256(json.dumps([sorted(requirements), str(base.resolve())]).encode()).hexdigest()[:12]
    folder = root / f"{name}-{key}"
    if (folder / _COMPLETE).exists():
        return Environment(folder / "bin" / "python", str(folder))
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f".{folder.name}.lock"):  # one creator at a time; the others wait, then reuse
        if (folder / _COMPLETE).exists():
            return Environment(folder / "bin" / "python", str(folder))
        _create(folder, base, requirements, timeout)
    return Environment(folder / "bin" / "python", str(folder))


def _create(folder: Path, base: Path, requirements: list[str], timeout: float) -> None:
    from .._io import staged_folder, write_text_atomic

    if folder.exists() and any(folder.iterdir()):
        msg = f"{folder} exists but is not an environment scmf finished creating; remove it and try again."
        raise FileExistsError(msg)
    try:
        with staged_folder(folder) as tmp:
            _run_install([str(base), "-m", "venv", str(tmp)], timeout)
            py = str(tmp / "bin" / "python")
            uv = shutil.which("uv")
            cmd = [uv, "pip", "install", "--python", py] if uv else [py, "-m", "pip", "install", "--no-input"]
            _run_install([*cmd, *requirements], timeout)
            record = {"requirements": list(requirements), "base_python": str(base), "created": time.time()}
            write_text_atomic(tmp / _COMPLETE, json.dumps(record, indent=1))
    except FileExistsError:  # another process finished it first
        if not (folder / _COMPLETE).exists():
            raise


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive advisory lock on ``path`` (POSIX; elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _run_install(cmd: list[str], timeout: float) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        msg = f"creating the environment timed out after {timeout:.0f} s: {' '.join(cmd)}"
        raise RuntimeError(msg) from None
    if proc.returncode != 0:
        msg = f"creating the environment failed: {' '.join(cmd)}\n{_tail(proc.stderr or proc.stdout)}"
        raise RuntimeError(msg)


def _tail(text: str, n: int = 15) -> str:
    lines = [ln for ln in (text or "").splitlines() if ln.strip()]
    return "\n".join(lines[-n:]) if lines else "(no output)"


# ---------------------------------------------------------------- the model


class ExternalModel:
    """A model run by its authors' code in another environment (see the module's text).

    Use :func:`external` or a folder with a ``scmf_external.yaml``; give it to
    :func:`scmf.tl.embed` like any model.
    """

    def __init__(
        self,
        recipe: ExternalRecipe,
        env: Environment,
        *,
        files: Mapping[str, str | os.PathLike] | None = None,
        options: Mapping[str, Any] | None = None,
        context_key: str | None = None,
        seed: int = 0,
        timeout: float = 3600,
        threads: int | None = None,
        folder: str | os.PathLike | None = None,
    ):
        files = {k: Path(v) for k, v in (files or {}).items()}
        missing = [f for f in recipe.files if f not in files]
        if missing:
            msg = f"the {recipe.name} recipe needs the files {missing} (in scmf_external.yaml or as files=)."
            raise ValueError(msg)
        for k, v in files.items():
            if not v.exists():
                msg = f"the {recipe.name} model's {k} file {str(v)!r} does not exist."
                raise FileNotFoundError(msg)
        unknown = sorted(set(options or {}) - set(recipe.options))
        if unknown:
            msg = (
                f"unknown options {unknown} for the {recipe.name} recipe; it takes {sorted(recipe.options)}."
            )
            raise ValueError(msg)
        if not (isinstance(timeout, int | float) and timeout > 0):
            msg = f"timeout must be a positive number of seconds, got {timeout!r}."
            raise ValueError(msg)
        self.recipe, self.env = recipe, env
        self.files = files
        self.options = {**recipe.options, **dict(options or {})}
        self.context_key = context_key
        self.seed, self.timeout, self.threads = int(seed), float(timeout), threads
        self.folder = None if folder is None else Path(folder)
        self.name = recipe.name

    @property
    def obs_columns(self) -> list[str]:
        """The ``obs`` columns the model reads (sent with each Dask block)."""
        return list(self.recipe.obs)

    @property
    def batch_group(self) -> int | None:
        """Consecutive cells the model sees together (Dask blocks are whole multiples of it)."""
        opt = self.recipe.context_option
        return int(self.options[opt]) if opt else None

    def embed_adata(
        self, adata, *, layer, batch_size, device, gene_key, id_type, input_scale, progress, plan=None
    ):
        """Write the cells, run the recipe, read the embedding back: ``(embedding, params)``."""
        from .._expression import detect_scale, get_expression

        X = get_expression(adata, layer)
        if input_scale not in ("auto", "counts", "log1p"):
            msg = f"input_scale must be 'auto', 'counts' or 'log1p', got {input_scale!r}."
            raise ValueError(msg)
        declared = input_scale
        if self.recipe.input_scale == "counts":
            scale = detect_scale(X) if input_scale == "auto" else input_scale
            if scale != "counts":
                msg = (
                    f"the {self.name} model reads raw counts, but the expression looks {scale}: pass layer= naming "
                    "a counts layer (e.g. 'counts'), or input_scale='counts' if these values are counts."
                )
                raise ValueError(msg)
            declared = "counts"
        if gene_key is not None and gene_key not in adata.var.columns:
            msg = f"gene_key={gene_key!r} is not a column of adata.var (columns: {list(adata.var.columns)})."
            raise KeyError(msg)
        names = adata.var[gene_key] if gene_key is not None else adata.var_names
        order = np.arange(adata.n_obs)
        if self.context_key is not None:
            if self.context_key not in adata.obs.columns:
                msg = f"context_key={self.context_key!r} is not a column of adata.obs."
                raise KeyError(msg)
            codes = np.unique(np.asarray(adata.obs[self.context_key]).astype(str), return_inverse=True)[1]
            order = np.argsort(codes.ravel(), kind="stable")
        obs = self._obs(adata, order)
        emb, info, command = self._run(X, order, np.asarray(names, dtype=object).astype(str), obs, device)
        out = np.empty_like(emb)
        out[order] = emb
        params = {
            "model": self.name,
            "layer": layer,
            "batch_size": int(batch_size),
            "external": {
                **self.env.describe(),
                "recipe": self.name,
                "command": command,
                "files": {k: str(v) for k, v in self.files.items()},
                "options": dict(self.options),
                "seed": self.seed,
                **({"info": info} if info else {}),
            },
            "input_scale": declared,
            "device": device,
        }
        if self.recipe.context_option:
            params["external"]["context"] = f"runs of {self.batch_group} consecutive cells " + (
                f"after a stable sort by obs[{self.context_key!r}]"
                if self.context_key
                else "in the data's order"
            )
        if self.folder is not None:
            params["checkpoint"] = str(self.folder)
        return out, params

    def _obs(self, adata, order):
        import pandas as pd

        obs = pd.DataFrame(index=pd.Index([f"c{i}" for i in range(adata.n_obs)], dtype=object))
        for col, default in self.recipe.obs.items():
            if col in adata.obs.columns:
                obs[col] = np.asarray(adata.obs[col]).astype(str)[order]
            elif default is None:
                msg = f"the {self.name} model needs obs[{col!r}]; add that column."
                raise KeyError(msg)
            else:
                obs[col] = str(default)
        return obs

    def _run(self, X, order, genes, obs, device):
        import anndata as ad
        import pandas as pd
        from scipy import sparse

        from .._io import write_h5ad, write_text_atomic

        t0 = time.perf_counter()
        Xw = sparse.csr_matrix(X, dtype=np.float32)[order]
        with tempfile.TemporaryDirectory(prefix="scmf-external-") as tmp:
            tmp = Path(tmp)
            cells = ad.AnnData(X=Xw, obs=obs, var=pd.DataFrame(index=pd.Index(genes, dtype=object)))
            inp = write_h5ad(tmp / "input.h5ad", cells)
            out = tmp / f"output.{self.recipe.output}"
            info_path = tmp / "info.json"
            job = {
                "input": str(inp), "output": str(out), "info": str(info_path),
                "files": {k: str(v) for k, v in self.files.items()}, "options": dict(self.options),
                "seed": self.seed, "device": device, "threads": self.threads, "packages": list(self.recipe.packages),
            }  # fmt: skip
            job_path = write_text_atomic(tmp / "job.json", json.dumps(job))
            if self.recipe.script is not None:
                script = write_text_atomic(tmp / "recipe.py", self.recipe.script)
                cmd = [str(self.env.python), str(script), str(job_path)]
                shown = ["{python}", "<recipe script>", "{job}"]
            else:
                values = {
                    "python": str(self.env.python), "input": str(inp), "output": str(out), "job": str(job_path),
                    "seed": str(self.seed), "device": str(device), **{k: str(v) for k, v in self.files.items()},
                    **{k: str(v) for k, v in self.options.items()},
                }  # fmt: skip
                cmd = [part.format(**values) for part in self.recipe.command]
                shown = list(self.recipe.command)
            t1 = time.perf_counter()
            self._call(cmd, tmp)
            t2 = time.perf_counter()
            if not out.exists():
                msg = f"the {self.name} command finished but wrote no {out.name}; check the recipe's output convention."
                raise RuntimeError(msg)
            emb = self._read(out, obs.index)
            info = json.loads(info_path.read_text()) if info_path.exists() else {}
        info["exchange_seconds"] = {"write": t1 - t0, "command": t2 - t1, "read": time.perf_counter() - t2}
        return emb, info, shown

    def _call(self, cmd, cwd):
        env = dict(os.environ)
        if self.threads:
            env.update({k: str(self.threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # one stream: the last lines shown on failure are the last printed
            text=True,
            start_new_session=True,
        )
        try:
            printed, _ = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            msg = f"the {self.name} model ran past its timeout of {self.timeout:.0f} s and was stopped; pass a larger timeout."
            raise TimeoutError(msg) from None
        except BaseException:
            _kill(proc)
            raise
        if proc.returncode != 0:
            msg = f"the {self.name} model's command failed (exit status {proc.returncode}); its last lines:\n{_tail(printed)}"
            raise RuntimeError(msg)

    def _read(self, out: Path, names) -> np.ndarray:
        n = len(names)
        if self.recipe.output == "npy":
            emb = np.load(out, allow_pickle=False)
        else:
            import anndata as ad

            res = ad.read_h5ad(out)
            if res.n_obs != n or not np.array_equal(
                np.asarray(res.obs_names, dtype=object), np.asarray(names)
            ):
                msg = (
                    f"the {self.name} model's output holds {res.n_obs} cells that are not the {n} it was given, "
                    "in their order (obs names differ)."
                )
                raise ValueError(msg)
            key = self.recipe.output_key
            if key is not None and key not in res.obsm:
                msg = f"the {self.name} model's output has no obsm[{key!r}] (it has {list(res.obsm)})."
                raise ValueError(msg)
            emb = res.obsm[key] if key is not None else res.X
            emb = emb.toarray() if hasattr(emb, "toarray") else emb
        emb = np.asarray(emb)
        if emb.ndim != 2 or emb.shape[0] != n:
            msg = f"the {self.name} model returned shape {emb.shape} for {n} cells; expected ({n}, dims)."
            raise ValueError(msg)
        if not np.isfinite(emb).all():
            msg = f"the {self.name} model returned NaN or inf for {int((~np.isfinite(emb).all(axis=1)).sum())} cells."
            raise ValueError(msg)
        return emb.astype(np.float32, copy=False)


def _kill(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


# ---------------------------------------------------------------- building one


def external(
    recipe: str | ExternalRecipe,
    *,
    environment: str | os.PathLike | Mapping[str, Any],
    files: Mapping[str, str | os.PathLike] | None = None,
    options: Mapping[str, Any] | None = None,
    context_key: str | None = None,
    seed: int = 0,
    timeout: float = 3600,
    threads: int | None = None,
) -> ExternalModel:
    """A model that runs in its own Python environment, for :func:`scmf.tl.embed`.

    Parameters
    ----------
    recipe
        ``"stack"``, ``"scprint"`` (see :data:`RECIPES`) or an :class:`ExternalRecipe`.
    environment
        An interpreter, a virtual environment or conda prefix, or ``"create"`` (scmf creates one
        with the recipe's requirements; see :func:`resolve_environment`).
    files
        The recipe's files (e.g. ``checkpoint``, ``genelist`` for Stack).
    options
        The recipe's options (defaults in the recipe).
    context_key
        For a model whose cells see each other (Stack): an ``obs`` column the cells are
        grouped by (stable sort) before they are cut into contexts. ``None``: the data's order.
    seed
        Handed to the recipe (its sampling) and recorded.
    timeout
        Seconds the command may run.
    threads
        CPU threads of the command (``OMP_NUM_THREADS``; ``None``: its default).

    Examples
    --------
    >>> import scmf
    >>> sorted(scmf.models.RECIPES)
    ['scprint', 'stack']
    """
    rec = _recipe(recipe)
    env = resolve_environment(environment, recipe=rec)
    return ExternalModel(
        rec,
        env,
        files=files,
        options=options,
        context_key=context_key,
        seed=seed,
        timeout=timeout,
        threads=threads,
    )


def _recipe(recipe: str | ExternalRecipe) -> ExternalRecipe:
    if isinstance(recipe, ExternalRecipe):
        return recipe
    if recipe not in RECIPES:
        msg = f"unknown external recipe {recipe!r}; built in: {sorted(RECIPES)}, or describe a command (see the models docs)."
        raise ValueError(msg)
    return RECIPES[recipe]


def is_external_dir(path: Path) -> bool:
    return (Path(path) / RECIPE_FILE).is_file()


_YAML_KEYS = {"recipe", "environment", "files", "options", "context_key", "timeout", "threads", "command",
              "name", "output", "output_key", "input_scale", "obs", "packages", "context_option"}  # fmt: skip

#: folders (``os.pathsep``-separated; a folder and everything under it) whose own commands,
#: interpreters and requirements may run without ``trust=True``
TRUST_ENV = "SCMF_TRUSTED_MODELS"


class UntrustedModelError(PermissionError):
    """A model folder would run code of its own (a command, an interpreter, requirements to
    install) and the user has not said it may."""


def trusted_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is under a folder listed in ``$SCMF_TRUSTED_MODELS``.

    Examples
    --------
    >>> import os, scmf
    >>> os.environ.pop("SCMF_TRUSTED_MODELS", None) and None
    >>> scmf.models.trusted_folder("/tmp/someone_elses_model")
    False
    """
    f = Path(folder).expanduser().resolve()
    listed = [p for p in os.environ.get(TRUST_ENV, "").split(os.pathsep) if p.strip()]
    for p in listed:
        root = Path(p).expanduser().resolve()
        if f == root or root in f.parents:
            return True
    return False


def _types(spec: dict, where: Path) -> None:
    """Every field of a ``scmf_external.yaml`` has the type it must have (checked before anything runs)."""

    def fail(key: str, want: str) -> None:
        msg = f"{where}: {key} must be {want}, got {type(spec[key]).__name__} {spec[key]!r}."
        raise TypeError(msg)

    def str_list(v) -> bool:
        return isinstance(v, list) and all(isinstance(x, str) for x in v)

    def str_map(v) -> bool:
        return isinstance(v, dict) and all(isinstance(k, str) for k in v)

    checks = {
        "recipe": (lambda v: isinstance(v, str), "a recipe name (a string)"),
        "name": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
        "command": (lambda v: str_list(v) and bool(v), "a non-empty list of strings (no shell)"),
        "files": (lambda v: str_map(v) and all(isinstance(x, str) for x in v.values()), "a mapping of names to paths"),
        "options": (str_map, "a mapping of option names to values"),
        "obs": (str_map, "a mapping of obs columns to defaults"),
        "packages": (str_list, "a list of package names"),
        "context_key": (lambda v: v is None or isinstance(v, str), "an obs column name"),
        "context_option": (lambda v: v is None or isinstance(v, str), "an option name"),
        "output": (lambda v: v in ("npy", "h5ad"), "'npy' or 'h5ad'"),
        "output_key": (lambda v: v is None or isinstance(v, str), "an obsm key"),
        "input_scale": (lambda v: v in ("counts", "any"), "'counts' or 'any'"),
        "timeout": (lambda v: v is None or (isinstance(v, int | float) and not isinstance(v, bool) and v > 0),
                    "a positive number of seconds"),
        "threads": (lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0),
                    "a positive integer"),
        "environment": (lambda v: isinstance(v, str) or str_map(v),
                        "an interpreter, a venv/conda prefix, 'create' or {requirements: [...]}"),
    }  # fmt: skip
    for key, (ok, want) in checks.items():
        if key in spec and not ok(spec[key]):
            fail(key, want)
    env = spec.get("environment")
    if isinstance(env, dict):
        unknown = sorted(set(env) - {"requirements", "root"})
        if unknown:
            msg = f"{where}: environment has unknown keys {unknown}; known: requirements, root."
            raise ValueError(msg)
        if "requirements" in env:
            _requirements(env["requirements"])


def _would_run(spec: dict, environment_given: bool) -> list[str]:
    """What a folder's own file would make scmf run: nothing for a built-in recipe run with an
    environment the caller gave or scmf creates from the recipe's own pinned requirements."""
    runs = []
    if "command" in spec:
        runs.append("its own command: " + " ".join(str(c) for c in spec["command"]))
    env = spec.get("environment")
    if not environment_given and env is not None:
        if isinstance(env, dict) and env.get("requirements"):
            runs.append("pip install into a new environment: " + " ".join(env["requirements"]))
        if isinstance(env, dict) and env.get("root"):
            runs.append(f"a new environment written under {env['root']}")
        elif isinstance(env, str) and env != "create":
            runs.append(f"the interpreter of its environment: {env}")
    return runs


def load_external(
    path: str | os.PathLike,
    *,
    seed: int = 0,
    environment: str | os.PathLike | None = None,
    trust: bool = False,
    **overrides: Any,
) -> ExternalModel:
    """The model a folder's ``scmf_external.yaml`` describes (relative paths from the folder).

    ``recipe: stack`` (or ``scprint``) names a built-in recipe; otherwise ``command:`` (a list)
    with ``output:``, ``input_scale:``, ``obs:``, ... describes one (see :class:`ExternalRecipe`).
    ``environment``, ``context_key``, ``timeout``, ``threads`` and the recipe's options (as
    keyword arguments) override the file's values.

    A folder can make scmf run code: its own ``command``, the interpreter its ``environment``
    names, the ``requirements`` it asks to install. Like ``trust_remote_code``, none of that runs
    unless the user says so for that folder: ``trust=True`` (``options={"trust": True}`` in
    :func:`scmf.tl.embed`, ``--trust-model`` on the command line) or the folder listed in
    ``$SCMF_TRUSTED_MODELS``; otherwise :class:`UntrustedModelError` shows what would run. A
    built-in recipe (whose command scmf ships) with ``environment="..."`` given by the caller,
    or ``environment: create`` (the recipe's own pinned requirements), needs no trust.
    """
    import yaml

    from .._yaml import read_yaml

    folder = Path(path)
    try:
        spec = read_yaml((folder / RECIPE_FILE).read_text()) or {}
    except yaml.YAMLError as e:
        msg = f"{folder / RECIPE_FILE} is not valid YAML: {e}"
        raise ValueError(msg) from None
    if not isinstance(spec, dict):
        msg = f"{folder / RECIPE_FILE} must hold a mapping (recipe:/command:, environment:, files:, ...)."
        raise ValueError(msg)
    unknown = sorted(set(spec) - _YAML_KEYS)
    if unknown:
        msg = f"{folder / RECIPE_FILE}: unknown keys {unknown}; known: {sorted(_YAML_KEYS)}."
        raise ValueError(msg)
    _types(spec, folder / RECIPE_FILE)
    if not isinstance(trust, bool):
        msg = f"trust must be True or False, got {trust!r}."
        raise TypeError(msg)
    runs = _would_run(spec, environment is not None)
    if runs and not (trust or trusted_folder(folder)):
        msg = (
            f"the model folder {str(folder)!r} would make scmf run code of its own:\n  - "
            + "\n  - ".join(runs)
            + f"\nRun it only if you trust where the folder came from: pass trust=True (scmf.models.load(path, "
            f"trust=True); tl.embed(..., options={{'trust': True}}); scmf benchmark --trust-model), or list the "
            f"folder in ${TRUST_ENV}."
        )
        raise UntrustedModelError(msg)
    settings = {k: overrides.pop(k, spec.get(k)) for k in ("context_key", "timeout", "threads")}
    declared = dict(spec.get("options") or {})
    options = {**declared, **(overrides.pop("options", None) or {}), **overrides}
    if "recipe" in spec:
        rec = _recipe(spec["recipe"])
    elif "command" in spec:
        rec = ExternalRecipe(
            name=str(spec.get("name", folder.name)),
            command=tuple(str(c) for c in spec["command"]),
            files=tuple((spec.get("files") or {}).keys()),
            options=declared,
            input_scale=str(spec.get("input_scale", "counts")),
            obs=dict(spec.get("obs") or {}),
            context_option=spec.get("context_option"),
            packages=tuple(spec.get("packages") or ()),
            output=str(spec.get("output", "npy")),
            output_key=spec.get("output_key"),
        )
    else:
        msg = f"{folder / RECIPE_FILE} names neither a recipe ({sorted(RECIPES)}) nor a command."
        raise ValueError(msg)
    env_spec = environment if environment is not None else spec.get("environment")
    if env_spec is None:
        msg = (
            f"{folder / RECIPE_FILE} names no environment (an interpreter, a venv/conda prefix, or 'create')."
        )
        raise ValueError(msg)
    if not (isinstance(env_spec, Mapping) or env_spec == "create"):
        env_spec = _in(folder, env_spec)
    return ExternalModel(
        rec,
        resolve_environment(env_spec, recipe=rec),
        files={k: _in(folder, v) for k, v in (spec.get("files") or {}).items()},
        options=options,
        context_key=settings["context_key"],
        seed=seed,
        timeout=3600 if settings["timeout"] is None else settings["timeout"],
        threads=settings["threads"],
        folder=folder,
    )


def _in(folder: Path, path: str | os.PathLike) -> Path:
    """``path`` (``~`` expanded) read from ``folder`` when relative."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else folder / p
