"""Sphinx configuration: myst pages, numpydoc-style API reference, scverse-like theme."""

from __future__ import annotations

from importlib.metadata import version as _version

project = "scmf"
author = "scmf developers"
copyright = "scmf developers"
release = _version("scmf")
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "gallery.py", "conf.py"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autosummary_generate = True
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_custom_sections = [("Returns", "params_style")]
nitpicky = False
suppress_warnings = ["myst.xref_missing"]

html_theme = "sphinx_book_theme"
html_title = "scmf"
html_static_path = ["_static"]
html_theme_options = {"repository_url": "https://github.com/scmf-dev/scmf", "use_repository_button": True}
