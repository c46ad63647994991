"""The evaluation guide's YAML ``eval:`` block, loaded safely and validated up front."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_EVAL_KEYS = {"batch_size", "every_n_epochs", "benchmarks", "device"}


@dataclass
class BenchmarkConfig:
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalConfig:
    """What to run: ``benchmarks`` (name + params), the embedding ``batch_size``, the
    callback's ``every_n_epochs``, and an optional ``device``."""

    benchmarks: list[BenchmarkConfig]
    batch_size: int = 256
    every_n_epochs: int = 1
    device: str = "auto"

    @property
    def eval(self) -> EvalConfig:
        """The config itself: code written for a whole training config (``config.eval``) reads the same."""
        return self

    def to_dict(self) -> dict:
        return {
            "batch_size": self.batch_size,
            "every_n_epochs": self.every_n_epochs,
            "device": self.device,
            "benchmarks": [{"name": b.name, "params": dict(b.params)} for b in self.benchmarks],
        }


def load_config(config: str | Path | Mapping[str, Any] | Sequence | EvalConfig) -> EvalConfig:
    """Read an evaluation config.

    Accepts a YAML file path (read with ``yaml.safe_load``), a mapping with or without the
    top-level ``eval:`` key (other top-level keys, e.g. ``training:``, are ignored), a bare
    list of benchmarks, or an :class:`EvalConfig`. Benchmark names and parameter names are
    checked against the registry now, so a typo fails before any computing.

    Examples
    --------
    >>> import scmf
    >>> cfg = scmf.bm.load_config({"eval": {"batch_size": 128, "benchmarks": [
    ...     {"name": "linear_probe", "params": {"cell_type_key": "bulk_labels", "test_size": 0.2}}]}})
    >>> cfg.benchmarks[0].name, cfg.batch_size
    ('linear_probe', 128)
    """
    from ._registry import spec

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
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            msg = f"{path} is not valid YAML: {e}"
            raise ValueError(msg) from e
        where = str(path)
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
        spec(str(item["name"])).resolve(params)  # validates name and parameter names
        benches.append(BenchmarkConfig(str(item["name"]), params))
    batch_size = raw.get("batch_size", 256)
    every = raw.get("every_n_epochs", 1)
    for key, val in (("batch_size", batch_size), ("every_n_epochs", every)):
        if not isinstance(val, int) or isinstance(val, bool) or val < 1:
            msg = f"{where}: {key} must be a positive integer, got {val!r}."
            raise ValueError(msg)
    return EvalConfig(
        benches, batch_size=batch_size, every_n_epochs=every, device=str(raw.get("device", "auto"))
    )
