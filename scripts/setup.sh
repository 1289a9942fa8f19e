# Sourced by start.sh and test.sh: make .venv with the project installed from a lock file, fast when
# already done.
# Usage: source scripts/setup.sh; deliverer_setup_venv LOCK   (LOCK: local for start.sh, dev for test.sh)

set -euo pipefail

deliverer_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

deliverer_lock_pins() {
    # deliverer_lock_pins FILE: the "name==version" pins of a lock file, sorted
    sed -n 's/^\([A-Za-z0-9._-]*==[^ ;\\]*\).*/\1/p' "$1" | LC_ALL=C sort -u
}

deliverer_venv_current() {
    # deliverer_venv_current ROOT LOCK: .venv holds every pin of requirements/LOCK.txt (or more) and
    # the project as this pyproject.toml declares it
    local root="$1" lock="$2" stamp missing
    stamp="$root/.venv/.installed"
    [ -x "$root/.venv/bin/python" ] && [ -f "$stamp" ] || return 1
    [ "$(head -n 1 "$stamp")" = "$(cksum < "$root/pyproject.toml" | cut -d' ' -f1)" ] || return 1
    missing="$(tail -n +2 "$stamp" | LC_ALL=C comm -23 <(deliverer_lock_pins "$root/requirements/$lock.txt") -)"
    [ -z "$missing" ]
}

deliverer_setup_venv() {
    # deliverer_setup_venv LOCK: install requirements/LOCK.txt (see scripts/lock.sh) and the project
    local lock="${1:?name a lock file in requirements/: local or dev}" root python requirements
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    requirements="$root/requirements/$lock.txt"
    if [ ! -f "$requirements" ]; then
        echo "error: no lock file requirements/$lock.txt; there are:" $(cd "$root/requirements" && ls) >&2
        return 1
    fi
    deliverer_venv_current "$root" "$lock" && return 0
    python="$(deliverer_python)"
    if [ ! -x "$root/.venv/bin/python" ]; then
        echo "==> creating .venv with $python" >&2
        "$python" -m venv "$root/.venv"
    fi
    echo "==> installing requirements/$lock.txt and the project into .venv; log: .venv/install.log" >&2
    # Exactly the locked versions, each checked against its hashes; the project itself is built
    # with the locked setuptools.
    if ! { "$root/.venv/bin/python" -m pip install --disable-pip-version-check --require-hashes --no-deps \
            -r "$requirements" &&
        "$root/.venv/bin/python" -m pip install --disable-pip-version-check --no-deps --no-build-isolation \
            -e "$root"
    } >"$root/.venv/install.log" 2>&1; then
        tail -n 30 "$root/.venv/install.log" >&2
        echo "error: installing the project failed (whole log: .venv/install.log)" >&2
        return 1
    fi
    { cksum < "$root/pyproject.toml" | cut -d' ' -f1; deliverer_lock_pins "$requirements"; } > "$root/.venv/.installed"
}

deliverer_apt_install() {
    # deliverer_apt_install COMMAND PACKAGE: install a Debian package when COMMAND is missing and we are root.
    local command="$1" package="$2"
    if command -v "$command" >/dev/null 2>&1 || [ -x "/usr/sbin/$command" ]; then
        return 0
    fi
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing $package (apt-get)" >&2
        if [ -z "${DELIVERER_APT_UPDATED:-}" ]; then
            apt-get update -qq >&2
            DELIVERER_APT_UPDATED=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
        return 0
    fi
    echo "warning: $command is missing; install the $package package" >&2
    return 1
}
