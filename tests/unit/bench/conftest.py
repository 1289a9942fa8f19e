"""The benchmark scripts import each other by bare name: put bench/ on the path before the tests import them."""

import tests.bench_path  # noqa: F401
