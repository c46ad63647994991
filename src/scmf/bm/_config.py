"""The evaluation guide's YAML ``eval:`` block, loaded safely and validated up front."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_EVAL_KEYS = {"batch_size", "every_n_epochs", "benchmarks", "device", "datasets", "model_name"}
_DATASET_KEYS = {"path", "benchmarks"}


@dataclass
class BenchmarkConfig:
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatasetConfig:
    """Settings of one data file: its ``path`` (optional), parameters that apply to every
    benchmark taking them (``cell_type_key``, ``batch_key``, ...), and optionally the only
    ``benchmarks`` to run on it."""

    name: str
    path: Path | None = None
    params: dict[str, Any] = field(default_factory=dict)
    benchmarks: list[str] | None = None

    def runs(self, benchmark: str) -> bool:
        return self.benchmarks is None or benchmark in self.benchmarks

    def params_for(self, spec: Any, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` of benchmark ``spec`` with this dataset's settings applied where it takes them."""
        out = dict(params)
        valid = set(spec.params)
        for k, v in self.params.items():
            if k not in valid:
                continue
            own = spec.aliases.get(k, k)
            for other in [p for p in out if spec.aliases.get(p, p) == own]:
                del out[other]  # the dataset's value replaces the benchmark's, whatever its spelling
            out[k] = v
        return out

    def to_dict(self) -> dict:
        d: dict[str, Any] = dict(self.params)
        if self.path is not None:
            d["path"] = str(self.path)
        if self.benchmarks is not None:
            d["benchmarks"] = list(self.benchmarks)
        return d


@dataclass
class EvalConfig:
    """What to run: ``benchmarks`` (name + params), the embedding ``batch_size``, the
    callback's ``every_n_epochs``, an optional ``device``, and per-dataset settings
    (``datasets``: name -> :class:`DatasetConfig`)."""

    benchmarks: list[BenchmarkConfig]
    batch_size: int = 256
    every_n_epochs: int = 1
    device: str = "auto"
    datasets: dict[str, DatasetConfig] = field(default_factory=dict)
    model_name: str | None = None  # the model's representation: obsm["X_<model_name>"]

    @property
    def model_key(self) -> str | None:
        """``obsm`` key of the model's embedding named by ``model_name`` (``None``: not named)."""
        if self.model_name is None:
            return None
        return self.model_name if self.model_name.startswith("X_") else f"X_{self.model_name}"

    @property
    def eval(self) -> EvalConfig:
        """The config itself: code written for a whole training config (``config.eval``) reads the same."""
        return self

    def to_dict(self) -> dict:
        d = {
            "batch_size": self.batch_size,
            "every_n_epochs": self.every_n_epochs,
            "device": self.device,
            "benchmarks": [{"name": b.name, "params": dict(b.params)} for b in self.benchmarks],
        }
        if self.datasets:
            d["datasets"] = {name: ds.to_dict() for name, ds in self.datasets.items()}
        if self.model_name is not None:
            d["model_name"] = self.model_name
        return d


def _is_path_param(name: str) -> bool:
    return name.endswith(("_path", "_file"))


_CONFINE: list[bool] = [False]  # set for the duration of one load_config(confine=True)


def _resolve_path(value: Any, base: Path, where: str, what: str) -> Path:
    if not isinstance(value, str | Path) or not str(value):
        msg = f"{where}: {what} must be a file path, got {value!r}."
        raise ValueError(msg)
    p = Path(value).expanduser()
    p = p if p.is_absolute() else base / p
    if _CONFINE[0] and not p.resolve().is_relative_to(base.resolve()):
        msg = f"{where}: {what} {str(value)!r} is outside the config's folder {str(base)!r} (confine=True)."
        raise ValueError(msg)
    if not p.exists():
        msg = (
            f"{where}: {what} {str(value)!r} not found (looked for {str(p)!r}; relative paths are read "
            "from the config file's folder)."
        )
        raise FileNotFoundError(msg)
    return p


def _unique_key_loader():
    """The strict loader every human-written YAML goes through (no duplicated keys, no aliases)."""
    from .._yaml import strict_loader

    return strict_loader()


_SIMPLE = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


def _check_types(spec, params: Mapping[str, Any], where: str) -> None:
    """Each parameter of a simple declared type (int, float, bool, str, or one of them or None) has it:
    checked when the config loads, not after a model has run."""
    import inspect

    sig = inspect.signature(spec.func)
    for name, value in params.items():
        own = spec.aliases.get(name, name)
        p = sig.parameters.get(own)
        if p is None or value is None:
            continue
        ann = str(p.annotation).replace(" ", "")
        parts = [a for a in ann.split("|") if a != "None"]
        if len(parts) != 1 or parts[0] not in _SIMPLE:
            continue
        ok = isinstance(value, _SIMPLE[parts[0]]) and not (
            parts[0] in ("int", "float") and isinstance(value, bool)
        )
        if not ok:
            msg = f"{where}: {name} must be {'a number' if parts[0] == 'float' else 'an integer' if parts[0] == 'int' else 'a ' + parts[0]}, got {value!r} ({type(value).__name__})."
            raise ValueError(msg)


def load_config(
    config: str | Path | Mapping[str, Any] | Sequence | EvalConfig, *, confine: bool = False
) -> EvalConfig:
    """Read an evaluation config.

    Accepts a YAML file path (read with ``yaml.safe_load``), a mapping with or without the
    top-level ``eval:`` key (other top-level keys, e.g. ``training:``, are ignored), a bare
    list of benchmarks, or an :class:`EvalConfig`. Checked now, before any computing:
    benchmark and parameter names (a typo gets the list of valid ones), and every file the
    config names (parameters ending in ``_path`` or ``_file``, dataset ``path``). Relative
    paths are read from the folder of the config file (the current folder for a mapping).
    Paths may point anywhere the user can read (absolute, ``../``), as a command-line tool's
    arguments do; ``confine=True`` (CLI: ``--confine-paths``) refuses any outside the config's
    folder, for configs from others. A file's content is never echoed into messages or
    results beyond names that look like column names.

    The optional ``datasets:`` block gives each data file (by name: the file's stem) its own
    settings, applied to every benchmark that takes them, a ``path`` and the only
    ``benchmarks`` to run on it::

        eval:
          benchmarks:
            - name: linear_probe
            - name: embedding_quality
          datasets:
            pbmc68k: {path: pbmc68k.h5ad, cell_type_key: bulk_labels, batch_key: phase}
            kang2018: {cell_type_key: cell_type, batch_key: condition}

    Examples
    --------
    >>> import scmf
    >>> cfg = scmf.bm.load_config({"eval": {"batch_size": 128, "benchmarks": [
    ...     {"name": "linear_probe", "params": {"cell_type_key": "bulk_labels", "test_size": 0.2}}]}})
    >>> cfg.benchmarks[0].name, cfg.batch_size
    ('linear_probe', 128)
    """

    _CONFINE[0] = bool(confine)
    try:
        return _load(config)
    finally:
        _CONFINE[0] = False


def _load(config) -> EvalConfig:
    from ._benchmark import lookup

    base = Path.cwd()
    if isinstance(config, EvalConfig):
        raw: Any = config.to_dict()
        where = "the config"
    elif isinstance(config, str | Path):
        import yaml

        path = Path(config)
        if not path.is_file():
            msg = f"config file {str(path)!r} does not exist."
            raise FileNotFoundError(msg)
        try:
            raw = yaml.load(
                path.read_text(encoding="utf-8"), Loader=_unique_key_loader()
            )  # a SafeLoader subclass
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            problem = getattr(e, "problem", None) or type(e).__name__
            # the problem and where, not PyYAML's snippet: the file's content is never echoed
            msg = f"{path} is not valid YAML{at}: {problem}."
            raise ValueError(msg) from e
        where = str(path)
        base = path.resolve().parent
    else:
        raw = config
        where = "the config"
    if isinstance(raw, Mapping) and "eval" in raw:
        raw = raw["eval"]
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        raw = {"benchmarks": list(raw)}
    if not isinstance(raw, Mapping):
        msg = f"{where}: expected an 'eval:' block (a mapping with 'benchmarks'), got {type(raw).__name__}."
        raise ValueError(msg)
    unknown = set(raw) - _EVAL_KEYS
    if unknown:
        msg = f"{where}: unknown key(s) {sorted(unknown)} in the eval block; valid: {sorted(_EVAL_KEYS)}."
        raise ValueError(msg)
    items = raw.get("benchmarks")
    if not items or not isinstance(items, Sequence) or isinstance(items, str):
        msg = f"{where}: 'benchmarks' must be a non-empty list of {{name, params}}."
        raise ValueError(msg)
    benches = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, Mapping) or "name" not in item:
            msg = f"{where}: benchmarks[{i}] needs a 'name' (and optional 'params'), got {item!r}."
            raise ValueError(msg)
        extra = set(item) - {"name", "params"}
        if extra:
            msg = (
                f"{where}: benchmarks[{i}] has unknown key(s) {sorted(extra)}; put parameters under 'params'."
            )
            raise ValueError(msg)
        params = dict(item.get("params") or {})
        spec = lookup(str(item["name"]))
        spec.resolve(params)  # validates name and parameter names
        _check_types(spec, params, f"{where}: benchmarks[{i}] ({item['name']})")
        for k, v in params.items():
            if _is_path_param(k) and v is not None:
                params[k] = str(_resolve_path(v, base, where, f"{item['name']}.{k}"))
        benches.append(BenchmarkConfig(str(item["name"]), params))
    datasets = _datasets(raw.get("datasets"), benches, base, where)
    batch_size = raw.get("batch_size", 256)
    every = raw.get("every_n_epochs", 1)
    for key, val in (("batch_size", batch_size), ("every_n_epochs", every)):
        if not isinstance(val, int) or isinstance(val, bool) or val < 1:
            msg = f"{where}: {key} must be a positive integer, got {val!r}."
            raise ValueError(msg)
    model_name = raw.get("model_name")
    if model_name is not None and (not isinstance(model_name, str) or not model_name or "/" in model_name):
        msg = f"{where}: model_name must be a non-empty name without '/', got {model_name!r}."
        raise ValueError(msg)
    return EvalConfig(
        benches,
        batch_size=batch_size,
        every_n_epochs=every,
        device=str(raw.get("device", "auto")),
        datasets=datasets,
        model_name=model_name,
    )


def _datasets(raw: Any, benches: list[BenchmarkConfig], base: Path, where: str) -> dict[str, DatasetConfig]:
    from ._benchmark import lookup

    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        msg = f"{where}: 'datasets' must map dataset names (file stems) to their settings, got {type(raw).__name__}."
        raise ValueError(msg)
    names = [b.name for b in benches]
    takes = {k for n in names for k in lookup(n).params}
    out: dict[str, DatasetConfig] = {}
    for name, entry in raw.items():
        entry = dict(entry or {})
        ctx = f"{where}: datasets.{name}"
        path = entry.pop("path", None)
        only = entry.pop("benchmarks", None)
        if only is not None:
            only = [only] if isinstance(only, str) else list(only)
            bad = [b for b in only if b not in names]
            if bad:
                msg = f"{ctx}.benchmarks names {bad}, which the config does not run; configured: {names}."
                raise ValueError(msg)
        unknown = [k for k in entry if k not in takes]
        if unknown:
            msg = (
                f"{ctx}: no configured benchmark takes {', '.join(map(repr, unknown))}; "
                f"settings they take: {sorted(takes)} (and {sorted(_DATASET_KEYS)})."
            )
            raise ValueError(msg)
        for k, v in entry.items():
            if _is_path_param(k) and v is not None:
                entry[k] = str(_resolve_path(v, base, ctx, k))
        out[str(name)] = DatasetConfig(
            str(name),
            _resolve_path(path, base, ctx, "path") if path is not None else None,
            entry,
            only,
        )
    return out
