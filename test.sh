#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, then runs them.
#   ./test.sh                 lint, types and every test (slow ones included)
#   ./test.sh -m "not slow"   any pytest arguments are passed on
# Tests run in $DELIVERER_TEST_WORKERS processes (default 2, one per test file at a time): most of
# the suite waits on brokers, servers and Spark's start-up, which overlap well even on two cores.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh

deliverer_setup_venv dev
deliverer_apt_install mosquitto mosquitto
deliverer_apt_install java openjdk-17-jre-headless
# BusyBox's sh is the /bin/sh of the broker image: the deploy tests run its scripts under it too.
deliverer_apt_install busybox busybox
# The tracking page's tests drive Debian's own headless Chromium and its driver: no browser is downloaded.
deliverer_apt_install chromium chromium
deliverer_apt_install chromedriver chromium-driver

echo "==> ruff" >&2
.venv/bin/ruff check .
echo "==> mypy" >&2
.venv/bin/mypy deliverer deliverer_cli subscriber publisher app_api spark_jobs
echo "==> pytest" >&2
export PYSPARK_PYTHON="$PWD/.venv/bin/python"
exec .venv/bin/python -m pytest -n "${DELIVERER_TEST_WORKERS:-2}" --dist loadfile "$@"
