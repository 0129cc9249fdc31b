#!/bin/sh
# The kubelet's probes of a Redis Cluster node: redis-probe.sh startup|liveness|readiness
#
#   startup    PONG: the node has loaded its data. While it loads a large AOF/RDB it answers
#              -LOADING; the startupProbe waits for that (liveness does not run meanwhile).
#   liveness   any reply from the server: PONG, but also -LOADING, -BUSY (a long script), -MASTERDOWN
#              or -NOAUTH prove the process serves. Only no answer at all fails: restarting a node
#              that is busy or loading would only lose that work.
#   readiness  PONG, cluster_state:ok as this node sees it, and on a replica master_link_status:up:
#              a rolling restart takes the next node only once the last one has rejoined and synced.
#              A node alone that holds no slots (a new node, waiting for the reconcile Job that runs
#              once the StatefulSet is ready) is ready too, or the cluster could never form.
#
# The password comes from REDISCLI_AUTH (the container's environment), never from argv.
set -u
mode=${1:-}
host=${REDIS_PROBE_HOST:-127.0.0.1}
port=${REDIS_PORT:-6379}

ask() { redis-cli -h "$host" -p "$port" "$@" 2>&1 | tr -d '\r'; }
field() { printf '%s\n' "$1" | sed -n "s/^$2://p"; }
fail() { printf '%s: %s\n' "$mode" "$*"; exit 1; }

reply=$(ask PING)
case "$mode" in
    liveness)
        # redis-cli reports a connection it could not make or lost as "Could not connect ..." or
        # "Error: ..."; anything else is the server's own reply.
        case "$reply" in
            "" | "Could not connect"* | *"Error: "*) fail "no reply from redis-server (${reply:-nothing})" ;;
        esac
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
