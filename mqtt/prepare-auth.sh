#!/bin/sh
# Write the container broker's password file and ACL into AUTH_DIR:
#
#   prepare-auth.sh AUTH_DIR
#
# The password file is built with mosquitto_passwd from the credentials in the environment
# (Docker Compose takes them from .env; see .env.example):
#   MQTT_SUBSCRIBER_PASSWORD, MQTT_API_PASSWORD, MQTT_PUBLISHER_PASSWORD, MQTT_HEALTHCHECK_PASSWORD
#       the service accounts svc~subscriber, svc~api, svc~publisher and svc~healthcheck (see acl)
#   MQTT_COURIERS
#       courier devices, "deliverer_id:password" pairs separated by commas or spaces (may be empty)
# The ACL is copied from beside this script. Both files are readable by the broker only.
# Docker Compose runs this in the one-shot service "mqtt-auth"; the deploy tests run it too.
set -eu

fail() {
    echo "prepare-auth: $*" >&2
    exit 1
}

auth_dir=${1:-}
[ -n "$auth_dir" ] || fail "usage: prepare-auth.sh AUTH_DIR"
here=$(cd "$(dirname "$0")" && pwd)
command -v mosquitto_passwd >/dev/null || fail "mosquitto_passwd is not installed"

# Service passwords go into mqtt://user:password@host URLs, so they must need no escaping.
check_password() {
    case $2 in
        "") fail "$1 is empty: set it in .env (copy .env.example)" ;;
        *[!A-Za-z0-9._~-]*) fail "$1 may only contain letters, digits and . _ ~ -" ;;
    esac
}

# A courier's username is its deliverer_id; ":" separates user and hash in the password file.
check_courier() {
    case $1 in
        "" | *[!A-Za-z0-9_.-]*) fail "courier id '$1' must be 1-64 of letters, digits and _ . -" ;;
    esac
    [ "${#1}" -le 64 ] || fail "courier id '$1' is longer than 64 characters"
    [ -n "$2" ] || fail "courier '$1' has no password (MQTT_COURIERS takes deliverer_id:password)"
}

mkdir -p "$auth_dir"
umask 077
passwd_tmp="$auth_dir/passwd.tmp"
acl_tmp="$auth_dir/acl.tmp"
trap 'rm -f "$passwd_tmp" "$acl_tmp"' EXIT
: >"$passwd_tmp"

services=0
for account in subscriber:MQTT_SUBSCRIBER_PASSWORD api:MQTT_API_PASSWORD \
    publisher:MQTT_PUBLISHER_PASSWORD healthcheck:MQTT_HEALTHCHECK_PASSWORD; do
    role=${account%%:*}
    variable=${account#*:}
    eval "password=\${$variable:-}"
    check_password "$variable" "$password"
    mosquitto_passwd -b "$passwd_tmp" "svc~$role" "$password"
    services=$((services + 1))
done

couriers=0
set -f  # the courier list is split on commas and spaces, never globbed
for entry in $(printf '%s' "${MQTT_COURIERS:-}" | tr ',' ' '); do
    courier=${entry%%:*}
    password=${entry#*:}
    [ "$courier" != "$entry" ] || password=""
    check_courier "$courier" "$password"
    mosquitto_passwd -b "$passwd_tmp" "$courier" "$password"
    couriers=$((couriers + 1))
done
set +f

cp "$here/acl" "$acl_tmp"
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    # Mosquitto started as root reads these files after switching to the "mosquitto" user.
    chown mosquitto:mosquitto "$passwd_tmp" "$acl_tmp"
fi
mv -f "$passwd_tmp" "$auth_dir/passwd"
mv -f "$acl_tmp" "$auth_dir/acl"
echo "prepare-auth: wrote $auth_dir/passwd ($services service accounts, $couriers couriers) and $auth_dir/acl"
