#!/usr/bin/env bash
# Run the courier pipeline and a burst of simulated couriers through it.
#
#   ./start.sh                         local processes (or Docker Compose when an engine answers
#                                      and Compose v2.7+ is installed)
#   ./start.sh --workers 50 --interval 0 --locations 100
#   ./start.sh --local | --docker      force the mode
#   ./start.sh --no-burst              start the services only
#   ./start.sh --legacy                serve the API on port 5000, where the original system's
#                                      clients and Postman environments expect it
#
# Any other flag is passed to `deliverer publish` (see `deliverer publish --help`).
# Environment: every `deliverer` variable (`deliverer settings` lists them with their values), notably
# DELIVERER_STORE_URL, DELIVERER_MQTT_PORT, DELIVERER_API_PORT, DELIVERER_LIVE_PORT (live streams and
# tracking pages), DELIVERER_SUBSCRIBE_METRICS_PORT (the subscriber's /metrics and /healthz; 9100 here
# when unset), DELIVERER_LEGACY_TIMEZONE; and DELIVERER_RUN_DIR (var/run). Every `deliverer` command
# reads the same variables: export one and they all move together.

set -euo pipefail
cd "$(dirname "$0")"
ROOT="$PWD"
source scripts/setup.sh

MODE=auto
WORKERS=""
INTERVAL=""
LOCATIONS=""
BURST=1
LEGACY=0
LEGACY_API_PORT=5000
PUBLISH_EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --local) MODE=local ;;
        --docker) MODE=docker ;;
        --workers) WORKERS="$2"; shift ;;
        --interval) INTERVAL="$2"; shift ;;
        --locations) LOCATIONS="$2"; shift ;;
        --no-burst) BURST=0 ;;
        --legacy) LEGACY=1 ;;
        -h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
        *) PUBLISH_EXTRA+=("$1") ;;
    esac
    shift
done

RUN_DIR="${DELIVERER_RUN_DIR:-var/run}"
DELIVERER="$ROOT/.venv/bin/deliverer"
mkdir -p "$RUN_DIR"

say() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

docker_engine_answers() {
    command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

# `up --wait` needs Compose 2.7 or later: older releases wait forever for the one-shot services.
COMPOSE_MINIMUM_MINOR=7

compose_unusable() {  # prints why Docker Compose cannot run the stack; nothing when it can
    local version
    if ! version="$(docker compose version --short 2>/dev/null)"; then
        echo "the Docker Compose v2 plugin is not installed (\`docker compose version\` fails)"
        return
    fi
    version="${version#v}"
    if [[ ! "$version" =~ ^([0-9]+)\.([0-9]+) ]]; then
        echo "cannot read the Docker Compose version '$version'"
    elif (( BASH_REMATCH[1] < 2 || (BASH_REMATCH[1] == 2 && BASH_REMATCH[2] < COMPOSE_MINIMUM_MINOR) )); then
        echo "Docker Compose $version is older than 2.$COMPOSE_MINIMUM_MINOR (its \`up --wait\` hangs on one-shot services)"
    fi
}

deliverer_setup_venv local
# What every other `deliverer` command would use, from the same variables and defaults.
SETTINGS="$("$DELIVERER" settings --get DELIVERER_MQTT_PORT DELIVERER_API_PORT DELIVERER_LIVE_PORT \
    DELIVERER_SUBSCRIBE_METRICS_PORT DELIVERER_MQTT_URL DELIVERER_API_URL DELIVERER_STORE_URL \
    DELIVERER_PUBLISH_WORKERS DELIVERER_PUBLISH_INTERVAL DELIVERER_PUBLISH_LOCATIONS)"
{
    read -r MQTT_PORT; read -r API_PORT; read -r LIVE_PORT; read -r METRICS_PORT
    read -r COMMANDS_MQTT_URL; read -r COMMANDS_API_URL; read -r STORE_URL
    read -r DEFAULT_WORKERS; read -r DEFAULT_INTERVAL; read -r DEFAULT_LOCATIONS
} <<<"$SETTINGS"
# The subscriber's metrics are off unless asked for: start.sh asks, for its readiness check.
if [ "$METRICS_PORT" = 0 ]; then
    METRICS_PORT=9100
fi
INTERVAL="${INTERVAL:-$DEFAULT_INTERVAL}"
LOCATIONS="${LOCATIONS:-$DEFAULT_LOCATIONS}"
if [ "$LEGACY" = 1 ]; then
    API_PORT="$LEGACY_API_PORT"
fi
API_URL="http://127.0.0.1:$API_PORT"
LIVE_URL="http://127.0.0.1:$LIVE_PORT"

if [ "$MODE" = auto ]; then
    MODE=local
    if docker_engine_answers; then
        why="$(compose_unusable)"
        if [ -z "$why" ]; then
            MODE=docker
        else
            say "a Docker engine answers, but $why: running local processes instead"
        fi
    fi
fi

if [ -z "$WORKERS" ]; then
    WORKERS="$DEFAULT_WORKERS"
    if [ -t 0 ] && [ "$BURST" = 1 ]; then
        read -r -p "How many couriers should deliver? [$DEFAULT_WORKERS] " answer
        WORKERS="${answer:-$DEFAULT_WORKERS}"
    fi
fi
case "$WORKERS" in ''|*[!0-9]*) fail "--workers needs a whole number, got '$WORKERS'" ;; esac

report_burst() {  # report_burst SUMMARY API_URL LOG_HINT READ_KEY: the burst's figures, an order, its curl
    "$ROOT/.venv/bin/python" - "$@" <<'PY'
import json, sys, time, urllib.error, urllib.request

summary_path, api, log_hint, read_key = sys.argv[1:5]
summary = json.loads(open(summary_path).read().strip().splitlines()[-1])
latency = summary.get("latency_ms", {})
print(
    f"burst: sent {summary['sent']:,}, acknowledged {summary['acked']:,}, failed {summary['failed']:,}, "
    f"{summary['rate']:,.0f} reports/s, publish->ack p50 {latency.get('p50', 0):.1f} ms, "
    f"p99 {latency.get('p99', 0):.1f} ms, {len(summary['order_ids'])} orders"
)
order = summary["order_ids"][0]
url = f"{api}/v1/orders/{order}/last-location"
request = urllib.request.Request(url, headers={"X-API-Key": read_key} if read_key else {})
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            body = json.loads(response.read())
        break
    except (urllib.error.URLError, OSError):
        if time.monotonic() > deadline:
            sys.exit(f"error: order {order} is not answerable after 60 s; see {log_hint}")
        time.sleep(0.2)
print(f"order {order} is now at {body['latitude']:.5f}, {body['longitude']:.5f} ({body['delivery_state']})")
# The key stays in .env: the printed command reads it from there.
key = ' -H "X-API-Key: $(grep ^API_KEY= .env | cut -d= -f2)"' if read_key else ""
print(f"\ntry it:\n  curl -s{key} {url}\n  curl -s{key} '{api}/v1/orders/{order}/locations?limit=5'")
PY
}

tracking_url() {  # tracking_url SUMMARY LIVE_URL API_URL API_KEY: the tracking page of the burst's first order
    "$ROOT/.venv/bin/python" - "$@" <<'PY'
import json, sys, urllib.request

summary_path, live, api, key = sys.argv[1:5]
order = json.loads(open(summary_path).read().strip().splitlines()[-1])["order_ids"][0]
if not key:
    print(f"{live}/track/{order}")
    sys.exit(0)
# With an API key the page may need one: a signed link opens that order alone (a day).
request = urllib.request.Request(
    f"{api}/v1/orders/{order}/tracking-link", data=b"{}", method="POST",
    headers={"X-API-Key": key, "Content-Type": "application/json"},
)
with urllib.request.urlopen(request, timeout=10) as response:
    print(json.loads(response.read())["url"])
PY
}

# --- Docker Compose -------------------------------------------------------------------------
env_setting() {  # env_setting NAME DEFAULT: NAME's value in .env
    local value
    value="$(sed -n "s/^$1=//p" .env | tail -n 1)"
    echo "${value:-$2}"
}

if [ "$MODE" = docker ]; then
    docker_engine_answers || fail "no Docker engine answers (start Docker, or use ./start.sh --local)"
    why="$(compose_unusable)"
    [ -z "$why" ] || fail "cannot run the Docker Compose stack: $why (install Compose 2.$COMPOSE_MINIMUM_MINOR or later, or use ./start.sh --local)"
    if [ ! -f .env ]; then
        # Passwords live in the data volumes too (MongoDB's root account): fresh secrets beside
        # old volumes would lock the stack out of its own data.
        project="$(printf '%s' "${COMPOSE_PROJECT_NAME:-$(basename "$ROOT")}" | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9_-')"
        volumes="$( (docker volume ls --quiet --filter "label=com.docker.compose.project=$project" || true) | tr '\n' ' ')"
        if [ -n "${volumes// /}" ]; then
            fail "the stack's data volumes exist but .env, which holds their passwords, is gone: restore it, or delete the data with: docker volume rm ${volumes% }"
        fi
        # Every change-me placeholder becomes a fresh random secret.
        "$ROOT/.venv/bin/python" -c '
import re, secrets, sys
text = open(".env.example").read()
open(".env", "w").write(re.sub(r"change-me[A-Za-z0-9-]*", lambda _m: secrets.token_hex(16), text))'
        chmod 600 .env
        say "created .env with fresh secrets from .env.example"
    fi
    if [ "$LEGACY" = 1 ]; then
        export API_PORT="$LEGACY_API_PORT"  # the port Compose publishes the API on
        DOCKER_API_PORT="$LEGACY_API_PORT"
    else
        DOCKER_API_PORT="$(env_setting API_PORT 8000)"
    fi
    DOCKER_LIVE_URL="http://127.0.0.1:$(env_setting LIVE_PORT 8001)"
    # Written before `up`, so that ./stop.sh also stops what a failed start left running.
    echo docker > "$RUN_DIR/mode"
    say "starting the Docker Compose stack"
    docker compose up -d --build --wait ||
        fail "the stack did not start: docker compose ps and docker compose logs say why (./stop.sh stops it)"
    API_URL="http://127.0.0.1:$DOCKER_API_PORT"
    if [ "$BURST" = 1 ]; then
        say "burst: $WORKERS couriers x $LOCATIONS reports, interval $INTERVAL s"
        SUMMARY="$RUN_DIR/last-burst.json"
        docker compose --profile publisher run --rm -T publisher publish \
            --workers "$WORKERS" --interval "$INTERVAL" --locations "$LOCATIONS" --json "${PUBLISH_EXTRA[@]}" \
            >"$SUMMARY" || fail "the burst did not complete; see $SUMMARY"
        READ_KEY=""
        [ "$(env_setting API_KEY_READS 0)" != 1 ] || READ_KEY="$(env_setting API_KEY "")"
        report_burst "$SUMMARY" "$API_URL" "docker compose logs subscriber" "$READ_KEY"
        TRACK="$(tracking_url "$SUMMARY" "$DOCKER_LIVE_URL" "$API_URL" "$(env_setting API_KEY "")")"
        TRACK="$TRACK  (live map; every active order: $DOCKER_LIVE_URL/track/)"
    else
        TRACK="$DOCKER_LIVE_URL/track/  (every active order, live)"
    fi
    cat >&2 <<EOF

API:     $API_URL  (OpenAPI: $API_URL/openapi.json)
Track:   $TRACK
Logs:    docker compose logs -f
Stop:    ./stop.sh   (./stop.sh --purge also deletes the data volumes)
EOF
    exit 0
fi

# --- Local processes --------------------------------------------------------------------------
echo local > "$RUN_DIR/mode"

pid_alive() {  # pid_alive NAME: the service started by us is still running
    local pid_file="$RUN_DIR/$1.pid"
    [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

check_port() {  # check_port NAME PORT VARIABLE: PORT is ours to use for NAME, or fail saying why
    local name="$1" port="$2" variable="$3" port_file="$RUN_DIR/$1.port"
    if pid_alive "$name"; then
        if [ -f "$port_file" ] && [ "$(cat "$port_file")" != "$port" ]; then
            fail "the $name started earlier runs on port $(cat "$port_file"), not $port: ./stop.sh first"
        fi
    elif port_open "$port"; then
        fail "port $port is in use by another program (set $variable to another port, or stop it)"
    fi
}

start_service() {  # start_service NAME PORT COMMAND...: background process with pid, port and log files
    local name="$1" port="$2"; shift 2
    if pid_alive "$name"; then
        say "$name already running (pid $(cat "$RUN_DIR/$name.pid")), reusing it"
        return 0
    fi
    # nohup: the service outlives this script and the terminal it ran in.
    nohup "$@" </dev/null >>"$RUN_DIR/$name.log" 2>&1 &
    echo $! > "$RUN_DIR/$name.pid"
    echo "$port" > "$RUN_DIR/$name.port"
    say "$name started (pid $!, log $RUN_DIR/$name.log)"
}

show_failure() {  # show_failure NAME REASON
    printf 'error: %s %s. Last lines of %s:\n' "$1" "$2" "$RUN_DIR/$1.log" >&2
    tail -n 20 "$RUN_DIR/$1.log" >&2 || true
    exit 1
}

wait_for() {  # wait_for NAME SECONDS CHECK...: poll CHECK until it succeeds or the deadline
    local name="$1" seconds="$2"; shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        pid_alive "$name" || show_failure "$name" "exited"
        [ "$SECONDS" -lt "$deadline" ] || show_failure "$name" "was not ready after ${seconds} s"
        sleep 0.2
    done
}

ready() {  # ready URL: the URL answers 200 (the API's and live server's /readyz, the subscriber's /healthz)
    "$ROOT/.venv/bin/python" - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

api_ready() {
    ready "$API_URL/readyz"
}

BROKER_KIND="$("$DELIVERER" broker --which)"
check_port broker "$MQTT_PORT" DELIVERER_MQTT_PORT
check_port subscriber "$METRICS_PORT" DELIVERER_SUBSCRIBE_METRICS_PORT
check_port api "$API_PORT" DELIVERER_API_PORT
check_port live "$LIVE_PORT" DELIVERER_LIVE_PORT

MQTT_URL="mqtt://127.0.0.1:$MQTT_PORT"
# One subscriber here, on the plain topic filter: Mosquitto restores a plain subscription of a
# persistent session after a broker restart, but not a shared one ($share/...), which would drop
# what couriers publish until the subscriber has subscribed again.
TOPIC='deliverers/+/location'
if [ "$BROKER_KIND" = amqtt ]; then
    say "Mosquitto not found: using the embedded amqtt broker (MQTT 3.1.1, one subscriber)"
    MQTT_URL="$MQTT_URL?protocol=3.1.1"
fi

start_service broker "$MQTT_PORT" "$DELIVERER" broker --port "$MQTT_PORT" --data-dir var/mosquitto
wait_for broker 15 port_open "$MQTT_PORT"
start_service subscriber "$METRICS_PORT" "$DELIVERER" subscribe --mqtt-url "$MQTT_URL" --store "$STORE_URL" \
    --topic "$TOPIC" --client-id deliverer-local-subscriber --metrics-port "$METRICS_PORT"
start_service api "$API_PORT" "$DELIVERER" api --host 127.0.0.1 --port "$API_PORT" --store "$STORE_URL" \
    --mqtt-url "$MQTT_URL" --live-port "$LIVE_PORT"
start_service live "$LIVE_PORT" "$DELIVERER" live --host 127.0.0.1 --live-port "$LIVE_PORT" --store "$STORE_URL" \
    --mqtt-url "$MQTT_URL"
wait_for api 60 api_ready
wait_for live 60 ready "$LIVE_URL/readyz"
wait_for subscriber 30 ready "http://127.0.0.1:$METRICS_PORT/healthz"  # 200 once subscribed
say "ready: broker ($BROKER_KIND) $MQTT_URL, API $API_URL, live $LIVE_URL, store $STORE_URL"

if [ "$BURST" = 1 ]; then
    say "burst: $WORKERS couriers x $LOCATIONS reports, interval $INTERVAL s"
    SUMMARY="$RUN_DIR/last-burst.json"
    "$DELIVERER" publish --mqtt-url "$MQTT_URL" --workers "$WORKERS" --interval "$INTERVAL" \
        --locations "$LOCATIONS" --json "${PUBLISH_EXTRA[@]}" >"$SUMMARY" ||
        fail "the burst did not complete; see $SUMMARY"
    report_burst "$SUMMARY" "$API_URL" "$RUN_DIR/subscriber.log" ""
    TRACK="$(tracking_url "$SUMMARY" "$LIVE_URL" "$API_URL" "")  (live map; every active order: $LIVE_URL/track/)"
else
    TRACK="$LIVE_URL/track/  (every active order, live)"
fi
# Other commands find these services without flags when they read the same settings.
EXPORTS=""
if [ "$MQTT_URL" != "$COMMANDS_MQTT_URL" ]; then EXPORTS+=" DELIVERER_MQTT_URL='$MQTT_URL'"; fi
if [ "$API_URL" != "$COMMANDS_API_URL" ]; then EXPORTS+=" DELIVERER_API_URL=$API_URL"; fi
cat >&2 <<EOF

Commands: source .venv/bin/activate   (then deliverer --help), or run .venv/bin/deliverer
EOF
if [ -n "$EXPORTS" ]; then
    printf '          export%s   (so that they find these services)\n' "$EXPORTS" >&2
fi
cat >&2 <<EOF
API:      $API_URL  (OpenAPI: $API_URL/openapi.json)
Metrics:  http://127.0.0.1:$METRICS_PORT/metrics (subscriber), $API_URL/metrics (API)
Logs:     $RUN_DIR/{broker,subscriber,api,live}.log
Postman:  import app_api/postman_collection.json (variable baseUrl = $API_URL)
Stop:     ./stop.sh   (./stop.sh --purge also deletes the data)
Track:    $TRACK
EOF
