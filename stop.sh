#!/usr/bin/env bash
# Stop what ./start.sh started, and nothing else.
#
#   ./stop.sh           stop the services, keep the data (store, broker sessions, lake)
#   ./stop.sh --purge   also delete the data under var/ (or the Compose volumes)
set -euo pipefail
cd "$(dirname "$0")"

PURGE=0
case "${1:-}" in
    --purge) PURGE=1 ;;
    "") ;;
    -h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
    *) echo "usage: ./stop.sh [--purge]" >&2; exit 2 ;;
esac

RUN_DIR="${DELIVERER_RUN_DIR:-var/run}"
MODE="$(cat "$RUN_DIR/mode" 2>/dev/null || echo local)"

if [ "$MODE" = docker ]; then
    if [ "$PURGE" = 1 ]; then docker compose down --volumes; else docker compose down; fi
    if [ "$PURGE" = 1 ]; then echo "stopped the Docker Compose stack and deleted its volumes"
    else echo "stopped the Docker Compose stack (volumes kept)"; fi
    rm -f "$RUN_DIR/mode"
    exit 0
fi

stop_service() {  # stop_service NAME: SIGTERM, wait up to 30 s, then SIGKILL
    local name="$1" pid_file="$RUN_DIR/$1.pid" pid
    [ -f "$pid_file" ] || return 0
    pid="$(cat "$pid_file")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 150); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid"
            echo "killed $name (pid $pid): it did not stop within 30 s"
        else
            echo "stopped $name (pid $pid)"
        fi
    else
        echo "$name (pid $pid) was not running"
    fi
    rm -f "$pid_file" "$RUN_DIR/$name.port"
}

# The live server and the API first (no new reports), then the subscriber (drains its batch), the broker last.
stopped=0
for name in live api subscriber broker; do
    if [ -f "$RUN_DIR/$name.pid" ]; then
        stop_service "$name"
        stopped=1
    fi
done
[ "$stopped" = 1 ] || echo "nothing to stop (no pid files in $RUN_DIR)"

if [ "$PURGE" = 1 ]; then
    rm -rf var/deliverer.db var/deliverer.db-wal var/deliverer.db-shm var/mosquitto var/lake "$RUN_DIR"
    echo "purged the local data under var/"
fi
