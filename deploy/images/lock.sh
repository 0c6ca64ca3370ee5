#!/usr/bin/env bash
# `make lock`: requirements.lock (or the file named as $1), the production dependencies of pyproject.toml
# resolved for the images (CPython 3.11 on x86_64 Linux), each pinned with the hashes of its files.
# An existing output file's pins are kept where they still satisfy pyproject.toml, so this is also how the
# lock test checks that the lock is current.
set -euo pipefail
cd "$(dirname "$0")/../.."
output=${1:-requirements.lock}
"${UV:-.venv/bin/uv}" pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" -o "$output"
