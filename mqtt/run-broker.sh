#!/bin/sh
# Run the container broker and make it reload its TLS certificate whenever it changes:
#
#   run-broker.sh CONFIG CERT_DIR
#
# The one-shot service "mqtt-certs" issues CERT_DIR/server.crt and server.key again when their names
# change or they near their end, and mounted certificates are renewed from outside. Mosquitto reads
# them at start and again on SIGHUP, without dropping its clients or sessions, so a new certificate
# is served within AUTH_POLL_SECONDS (default 2) instead of waiting for a broker restart (which would
# also lose the shared subscriptions, see README). The accounts need no signal: "mqtt-auth" changes
# them through the dynamic security plugin's control API. SIGTERM and SIGINT are passed on to the
# broker, which then saves its persistence file; the script exits with the broker's status.
set -u

config=${1:?usage: run-broker.sh CONFIG CERT_DIR}
cert_dir=${2:?usage: run-broker.sh CONFIG CERT_DIR}
poll_seconds=${AUTH_POLL_SECONDS:-2}

fingerprint() {
    cat "$cert_dir/server.crt" "$cert_dir/server.key" 2>/dev/null | cksum
}

reload_when_changed() {  # reload_when_changed PID: SIGHUP the broker after each change
    while kill -0 "$1" 2>/dev/null; do
        sleep "$poll_seconds"
        now=$(fingerprint)
        if [ "$now" != "$seen" ]; then
            seen=$now
            echo "run-broker: $cert_dir changed, reloading the TLS certificate (SIGHUP)"
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
