"""Shared by the tests and the docstring examples (``--doctest-modules`` over ``src/scmf``)."""

from __future__ import annotations

import importlib.util

import matplotlib

matplotlib.use("agg")

collect_ignore = [] if importlib.util.find_spec("lightning") else ["src/scmf/callbacks/_lightning.py"]


def pytest_collection_modifyitems(config, items):
    import matplotlib.pyplot as plt

    plt.close("all")
