# Sourced by start.sh and test.sh: make .venv with the project installed, fast when already done.
# Usage: source scripts/setup.sh [EXTRAS]   (EXTRAS e.g. "test,broker")

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

deliverer_venv_current() {
    # deliverer_venv_current ROOT EXTRAS: .venv was installed from this pyproject.toml with these extras (or more)
    local root="$1" extras="$2" stamp installed_hash installed_extras extra
    stamp="$root/.venv/.installed"
    [ -x "$root/.venv/bin/python" ] && [ -f "$stamp" ] || return 1
    read -r installed_hash installed_extras < "$stamp" || true
    [ "$installed_hash" = "$(cksum < "$root/pyproject.toml" | cut -d' ' -f1)" ] || return 1
    for extra in ${extras//,/ }; do
        case ",${installed_extras:-}," in *",$extra,"*) ;; *) return 1 ;; esac
    done
}

deliverer_setup_venv() {
    local extras="${1:-}" root python
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    deliverer_venv_current "$root" "$extras" && return 0
    python="$(deliverer_python)"
    if [ ! -x "$root/.venv/bin/python" ]; then
        echo "==> creating .venv with $python" >&2
        "$python" -m venv "$root/.venv"
    fi
    echo "==> installing the project into .venv${extras:+ (extras: $extras)}; log: .venv/install.log" >&2
    if ! { "$root/.venv/bin/python" -m pip install --disable-pip-version-check --upgrade pip &&
        "$root/.venv/bin/python" -m pip install --disable-pip-version-check -e "$root${extras:+[$extras]}"
    } >"$root/.venv/install.log" 2>&1; then
        tail -n 30 "$root/.venv/install.log" >&2
        echo "error: installing the project failed (whole log: .venv/install.log)" >&2
        return 1
    fi
    echo "$(cksum < "$root/pyproject.toml" | cut -d' ' -f1) $extras" > "$root/.venv/.installed"
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
