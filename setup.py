"""Builds the native parts: the CLF scanner, the columnar engines' grouping, the wire's
group columns and the histogram merges. Everything else about the package is in pyproject.toml.

Every extension is optional: without a C compiler the install still succeeds, and logctl
uses its columnar (polars) engine, polars' grouping and pure-Python merges instead (see
logctl/metrics/native.py, columnar.py and sketch.py)."""

from setuptools import Extension, setup

FLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra"]

setup(ext_modules=[
    Extension(f"logctl.metrics.{name}", [f"logctl/metrics/{name}.c"], optional=True,
              depends=["logctl/metrics/_pairs.h", "logctl/metrics/_rolls.h",
                       "logctl/metrics/_tuple.h",
                       "logctl/metrics/_varint.h"],
              extra_compile_args=FLAGS)
    for name in ("_blocks", "_clf", "_columns", "_groups", "_sketch")
])
