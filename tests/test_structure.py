"""The house rules of the package layout, read from the source (no import needed).

- no import cycle between files (imports inside functions count: a lazy import is still a
  dependency, and a cycle of them is what let two copies of one route drift apart);
- rooms import downward only: ``cli`` -> (the package) -> ``_report`` -> ``callbacks``/``pl`` ->
  ``bm`` -> ``tl`` -> ``datasets`` -> ``models`` -> shared helpers (``scmf._*``) -> ``_kernels``
  -> ``_warnings`` (a leaf every room warns through);
- no module reaches into another subpackage's private module or name.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "scmf"
# rank of each room; a module may import rooms of lower or equal rank (equal: the same room)
RANK = {
    "_warnings": -1,  # ScmfWarning and warn(): imports nothing of scmf, so every room may use it
    "_kernels": 0,
    "_shared": 1,
    "models": 2,
    "datasets": 3,
    "tl": 4,
    "bm": 5,
    "pl": 6,
    "callbacks": 6,
    "_report": 6.5,  # scmf.report reads the results (bm) and draws (pl)
    "cli": 8,
}
ROOT = 7  # scmf/__init__.py imports every room but the command line, which uses the package as a user does


def _modules() -> dict[str, Path]:
    out = {}
    for f in SRC.rglob("*.py"):
        parts = list(f.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _imports(mods: dict[str, Path]) -> dict[str, set[tuple[str, str | None]]]:
    """module -> {(imported module, imported name or None)}."""
    edges: dict[str, set[tuple[str, str | None]]] = {}
    for mod, f in mods.items():
        package = mod if f.name == "__init__.py" else mod.rpartition(".")[0]
        out = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("scmf"):
                    continue
                for alias in node.names:
                    if f"{target}.{alias.name}" in mods:
                        out.add((f"{target}.{alias.name}", None))
                    elif target in mods:
                        out.add((target, alias.name))
            elif isinstance(node, ast.Import):
                out |= {(a.name, None) for a in node.names if a.name in mods}
        edges[mod] = {e for e in out if e[0] != mod}
    return edges


def _room(mod: str) -> str:
    parts = mod.split(".")
    if len(parts) == 1:
        return "root"
    if parts[1] in RANK:
        return parts[1]
    return "_shared"  # scmf._store, scmf._validate, ...


def _rank(mod: str) -> int:
    return ROOT if _room(mod) == "root" else RANK[_room(mod)]


def test_no_import_cycles():
    mods = _modules()
    graph = {m: {t for t, _ in e} for m, e in _imports(mods).items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles between files: {cycles}"


def test_rooms_import_downward_only():
    bad = []
    for mod, edges in _imports(_modules()).items():
        for target, _ in edges:
            if _room(target) != _room(mod) and _rank(target) >= _rank(mod) and _room(target) != "root":
                bad.append(f"{mod} -> {target}")
            if _room(target) == "root" and _room(mod) not in ("root", "cli"):
                bad.append(f"{mod} -> {target} (the package itself)")
    assert not bad, "upward imports:\n" + "\n".join(sorted(bad))


def test_no_private_names_of_other_subpackages():
    bad = []
    for mod, edges in _imports(_modules()).items():
        room = _room(mod)
        for target, name in edges:
            other = _room(target)
            if other in (room, "_shared", "root"):
                continue
            private_module = any(p.startswith("_") for p in target.split(".")[2:])
            if private_module or (name is not None and name.startswith("_")):
                bad.append(f"{mod} imports {target}" + (f".{name}" if name else ""))
    assert not bad, "private imports across subpackages:\n" + "\n".join(sorted(bad))


def test_the_checker_sees_a_cycle(tmp_path):
    """The rules above would fail on a cycle: a known answer for the checker itself."""
    import pytest

    global SRC
    pkg = tmp_path / "scmf"
    (pkg / "bm").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "bm" / "__init__.py").write_text("")
    (pkg / "bm" / "_a.py").write_text("def f():\n    from ._b import g\n")  # a lazy import counts
    (pkg / "bm" / "_b.py").write_text("from ._a import f\n")
    real, SRC = SRC, pkg
    try:
        with pytest.raises(AssertionError, match=r"scmf\.bm\._a.*scmf\.bm\._b"):
            test_no_import_cycles()
    finally:
        SRC = real
