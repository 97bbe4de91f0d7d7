"""Sphinx configuration for jelu's documentation: `make docs` builds it into docs/_build/html."""

from importlib.metadata import version as _version

project = "jelu"
author = "jelu contributors"
copyright = "jelu contributors; Apache-2.0"
release = _version("jelu")
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx-mathjax-offline",  # serves MathJax with the pages, so math renders offline too
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_type_aliases = {"ArrayLike": "jax.typing.ArrayLike"}
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# The examples run as doctests (`sphinx-build -b doctest`); this is what they share.
doctest_global_setup = """
import jax
import jax.numpy as jnp
import numpy as np
import jelu
"""

html_theme = "alabaster"
html_title = f"jelu {release}"
html_theme_options = {
    "description": "ELU, SELU and CELU for JAX whose backward pass keeps only the output.",
    "page_width": "1100px",
    "sidebar_width": "230px",
    "fixed_sidebar": True,
}
