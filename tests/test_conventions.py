"""scanpy's calling conventions on every public function of tl, bm and pl (read from signatures).

``adata`` (or ``data`` for functions that read results of several objects) comes first, at
most three positional parameters, no positional booleans, ``copy=False`` (tl) and
``inplace=True`` (bm) keyword-only, and every benchmark returns ``DataFrame | None``.
"""

from __future__ import annotations

import inspect

import pytest

import scmf

# public functions whose first argument is not the data, each for a reason
NOT_DATA_FIRST = {
    "tl.extract_embeddings": "the evaluation guide's order: extract_embeddings(model, adata, tokenizer)",
    "bm.benchmark": "a decorator factory",
    "bm.register_benchmark": "registers by name",
    "bm.declaration": "looks up by name",
    "bm.benchmarks": "lists the registry (no argument)",
    "bm.get_benchmark": "the guide's object API, by name",
    "bm.load_config": "reads a config",
    "bm.read_json": "reads a file",
    "bm.collect": "items from many objects and files",
    "bm.evaluate": "datasets, several at once",
    "bm.neighbors": "a pure array function (X)",
}


def _public_functions():
    for room in ("tl", "bm", "pl"):
        mod = getattr(scmf, room)
        for name in mod.__all__:
            f = getattr(mod, name)
            if inspect.isfunction(f):
                yield f"{room}.{name}", f


@pytest.mark.parametrize(
    ("name", "func"), list(_public_functions()), ids=lambda x: x if isinstance(x, str) else ""
)
def test_signature_conventions(name, func):
    params = list(inspect.signature(func).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if name not in NOT_DATA_FIRST:
        assert params, f"{name}: takes no data"
        assert params[0].name in ("adata", "data"), f"{name}: first parameter {params[0].name!r}"
    assert len(positional) <= 3, f"{name}: {len(positional)} positional parameters"
    flags = [p.name for p in positional if isinstance(p.default, bool)]
    assert not flags, f"{name}: positional booleans {flags}"
    for p in params:
        if p.name == "copy":
            assert p.kind is p.KEYWORD_ONLY and p.default is False, name
        if p.name == "inplace":
            assert p.kind is p.KEYWORD_ONLY and p.default is True, name


def test_every_benchmark_returns_a_table_or_none():
    for name, spec in scmf.bm.benchmarks().items():
        sig = inspect.signature(spec.func)
        assert sig.return_annotation == "pd.DataFrame | None", name
        assert next(iter(sig.parameters)) == "adata", name


def test_the_exceptions_are_real():
    names = dict(_public_functions())
    assert set(NOT_DATA_FIRST) <= set(names)


def test_every_plot_documents_its_parameters_and_return():
    for name in scmf.pl.__all__:
        f = getattr(scmf.pl, name)
        doc = "\n" + inspect.cleandoc(f.__doc__) + "\n"
        for p in inspect.signature(f).parameters.values():
            entry = f"\n**{p.name}\n" if p.kind is p.VAR_KEYWORD else f"\n{p.name}\n"
            assert entry in doc, f"pl.{name}: {p.name} undocumented"
        assert "\nReturns\n-------\n" in doc, f"pl.{name}: no Returns section"
