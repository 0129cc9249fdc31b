#!/bin/sh
# The kubelet's probes of a Redis Cluster node: redis-probe.sh startup|liveness|readiness
#
#   startup    PONG: the node has loaded its data. While it loads a large AOF/RDB it answers
#              -LOADING; the startupProbe waits for that (liveness does not run meanwhile).
#   liveness   any reply from the server: PONG, but also -LOADING, -BUSY (a long script), -MASTERDOWN
#              or -NOAUTH prove the process serves. Only no answer at all fails: restarting a node
#              that is busy or loading would only lose that work.
#              With TLS, it also reloads the certificate once cert-manager has renewed it: Redis never
#              re-reads its certificate files by itself. The kubelet swaps the mounted Secret's files
#              in place; when their checksum differs from the one recorded at start (or at the last
#              reload), CONFIG SET of the same three paths makes redis-server read them again, for
#              new connections, without a restart. A failed reload is logged and tried again at the
#              next probe; it never fails the probe (the node still serves its current certificate).
#   readiness  PONG, cluster_state:ok as this node sees it, and on a replica master_link_status:up:
#              a rolling restart takes the next node only once the last one has rejoined and synced.
#              A node alone that holds no slots (a new node, waiting for the reconcile Job that runs
#              once the StatefulSet is ready) is ready too, or the cluster could never form.
#
# Environment:
#   REDIS_USER, REDISCLI_AUTH, REDIS_TLS, REDIS_TLS_CA_FILE   see redis-client.sh (the node's own user:
#                      the password comes from the container's environment, never from argv)
#   REDIS_TLS_DIR      the mounted certificate (tls.crt, tls.key, ca.crt; default /etc/redis/tls)
#   REDIS_RUN_DIR      where the start script recorded the loaded certificate's checksum (default /run/redis)
set -u
mode=${1:-}
host=${REDIS_PROBE_HOST:-127.0.0.1}
port=${REDIS_PORT:-6379}
# shellcheck source=redis-client.sh
. "$(dirname "$0")/redis-client.sh"

ask() { rcli -h "$host" -p "$port" "$@" 2>&1 | tr -d '\r'; }
field() { printf '%s\n' "$1" | sed -n "s/^$2://p"; }
fail() { printf '%s: %s\n' "$mode" "$*"; exit 1; }

# Reloads the certificate files when they changed since redis-server last read them (see above).
reload_certificate() {
    [ "${REDIS_TLS:-0}" = 1 ] || return 0
    _dir=${REDIS_TLS_DIR:-/etc/redis/tls}
    _loaded=${REDIS_RUN_DIR:-/run/redis}/tls.sum
    _now=$(cat "$_dir/tls.crt" "$_dir/tls.key" "$_dir/ca.crt" 2>/dev/null | cksum)
    [ -n "$_now" ] && [ "$_now" != "$(cat "$_loaded" 2>/dev/null)" ] || return 0
    _reply=$(ask CONFIG SET tls-cert-file "$_dir/tls.crt" tls-key-file "$_dir/tls.key" tls-ca-cert-file "$_dir/ca.crt")
    if [ "$_reply" = OK ]; then
        printf '%s\n' "$_now" >"$_loaded"
        printf 'liveness: reloaded the TLS certificate from %s (%s)\n' "$_dir" "$_now"
    else
        printf 'liveness: the TLS certificate in %s changed but could not be reloaded, trying again at the next probe: %s\n' "$_dir" "$_reply"
    fi
}

reply=$(ask PING)
case "$mode" in
    liveness)
        # redis-cli reports a connection it could not make or lost as "Could not connect ..." or
        # "Error: ..."; anything else is the server's own reply.
        case "$reply" in
            "" | "Could not connect"* | *"Error: "*) fail "no reply from redis-server (${reply:-nothing})" ;;
        esac
        reload_certificate
        ;;
    startup)
        [ "$reply" = PONG ] || fail "not serving yet: ${reply:-no reply}"
        ;;
    readiness)
        [ "$reply" = PONG ] || fail "PING answered ${reply:-nothing}"
        info=$(ask CLUSTER INFO)
        state=$(field "$info" cluster_state)
        if [ "$state" != ok ]; then
            known=$(field "$info" cluster_known_nodes)
            assigned=$(field "$info" cluster_slots_assigned)
            if [ "$known" != 1 ] || [ "$assigned" != 0 ]; then fail "cluster_state:${state:-unknown} with ${known:-?} node(s) known"; fi
        fi
        replication=$(ask INFO replication)
        if [ "$(field "$replication" role)" = slave ]; then
            link=$(field "$replication" master_link_status)
            [ "$link" = up ] || fail "replica of $(field "$replication" master_host):$(field "$replication" master_port), master_link_status:${link:-unknown}"
        fi
        ;;
    *)
        printf 'usage: redis-probe.sh startup|liveness|readiness\n' >&2
        exit 2
        ;;
esac
exit 0
