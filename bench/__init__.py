"""Benchmarks, each a module run from the repository root: `python -m bench.bench_api` (results: README.md).

Run as modules, they import the service, the emulators and the tests' fixtures like any other code does, with
no `sys.path` edits."""
