#!/bin/sh
# Run the container broker and make it reload its logins and ACL whenever they change:
#
#   run-broker.sh CONFIG AUTH_DIR
#
# The one-shot service "mqtt-auth" rewrites AUTH_DIR/passwd and AUTH_DIR/acl from .env on every
# `docker compose up`. Mosquitto reads both at start and again on SIGHUP, without dropping its
# clients or sessions, so a rotated password takes effect within AUTH_POLL_SECONDS (default 2)
# instead of waiting for a broker restart (which would also lose the shared subscriptions, see
# README). SIGTERM and SIGINT are passed on to the broker, which then saves its persistence file;
# the script exits with the broker's status.
set -u

config=${1:?usage: run-broker.sh CONFIG AUTH_DIR}
auth_dir=${2:?usage: run-broker.sh CONFIG AUTH_DIR}
poll_seconds=${AUTH_POLL_SECONDS:-2}

fingerprint() {
    cat "$auth_dir/passwd" "$auth_dir/acl" 2>/dev/null | cksum
}

reload_when_changed() {  # reload_when_changed PID: SIGHUP the broker after each change
    while kill -0 "$1" 2>/dev/null; do
        sleep "$poll_seconds"
        now=$(fingerprint)
        if [ "$now" != "$seen" ]; then
            seen=$now
            echo "run-broker: $auth_dir changed, reloading the password file and ACL (SIGHUP)"
            kill -HUP "$1" 2>/dev/null
        fi
    done
}

# Taken before the broker reads the files: a change after this point is at worst reloaded once
# more than needed, never missed.
seen=$(fingerprint)
mosquitto -c "$config" &
broker=$!
trap 'kill -TERM "$broker" 2>/dev/null' TERM INT
reload_when_changed "$broker" &
watcher=$!

# `wait` returns early when a trapped signal arrives; wait again until the broker has exited.
status=0
while kill -0 "$broker" 2>/dev/null; do
    wait "$broker"
    status=$?
done
kill "$watcher" 2>/dev/null
exit "$status"
