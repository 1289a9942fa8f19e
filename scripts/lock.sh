#!/usr/bin/env bash
# Write the lock files in requirements/ from pyproject.toml: run it after changing a dependency there.
#   scripts/lock.sh              resolve what changed, keep every other pin
#   scripts/lock.sh --upgrade    move every pin to the newest release pyproject.toml allows
#
# dev.txt is resolved once for everything; the smaller sets take their versions from it, so the
# images run exactly the versions the tests ran. Each pin carries the hashes of every file PyPI has
# for it (any platform, Python 3.11 and later), and pip refuses a download that matches none.
#   core.txt    the dependencies: the api, subscriber, publisher and one-shot images
#   lake.txt    core and the `lake` extra: the exporter image
#   local.txt   lake and the `broker` extra: ./start.sh
#   dev.txt     local and the `test` extra: ./test.sh (uv, which this script runs, is in it)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
deliverer_setup_venv dev

# The build backend is locked too: the project is installed without build isolation.
build_requires="$(.venv/bin/python -c '
import tomllib
print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")')"

compile() {  # compile NAME [uv pip compile options]
    local name="$1"
    shift
    echo "==> requirements/$name.txt" >&2
    printf '%s\n' "$build_requires" | .venv/bin/uv pip compile --quiet --universal --generate-hashes \
        --annotation-style line --custom-compile-command scripts/lock.sh \
        pyproject.toml - "$@" --output-file "requirements/$name.txt"
}

compile dev --extra lake --extra broker --extra test "$@"
compile local --extra lake --extra broker --constraint requirements/dev.txt
compile lake --extra lake --constraint requirements/dev.txt
compile core --constraint requirements/dev.txt
