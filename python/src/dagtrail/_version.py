"""The package's version, in one place: ``dagtrail.__version__``, the
``User-Agent`` the client sends, and the distribution's version (read
here by setuptools, ``[tool.setuptools.dynamic]`` in pyproject.toml)."""

__version__ = "0.1.0"
