"""Build the optional C fast path of ``Run.track()``; everything else is in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and ``track()`` runs
its pure-Python implementation (``aimcol.sdk.run.ACCELERATED`` tells which one is used).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("aimcol.sdk._fastpath", ["aimcol/sdk/_fastpath.c"], optional=True)])
