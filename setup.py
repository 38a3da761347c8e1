"""Builds the native parts: the CLF scanner and the histogram merges. Everything else
about the package is in pyproject.toml.

Both extensions are optional: without a C compiler the install still succeeds, and logctl
uses its columnar (polars) engine and pure-Python merges instead (see
logctl/metrics/native.py and sketch.py)."""

from setuptools import Extension, setup

FLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra"]

setup(ext_modules=[
    Extension(f"logctl.metrics.{name}", [f"logctl/metrics/{name}.c"], optional=True,
              extra_compile_args=FLAGS)
    for name in ("_clf", "_sketch")
])
