#!/bin/sh
# Forms the Redis Cluster once every node answers, and does nothing when it already exists.
# Runs in the bootstrap Job (redis image) and, unchanged, in the tests against local redis-server
# processes, so what is tested is what runs.
#
# Environment:
#   REDIS_NODES     every node as host:port, space-separated, in StatefulSet ordinal order
#   REDIS_REPLICAS  replicas per master (0 with a single node)
#   REDISCLI_AUTH   the cluster password; redis-cli reads it itself, so it never appears in argv
#   WAIT_SECONDS    how long to wait for every node to answer (default 300)
set -eu

: "${REDIS_NODES:?REDIS_NODES must list every node as host:port}"
REPLICAS="${REDIS_REPLICAS:-0}"
WAIT_SECONDS="${WAIT_SECONDS:-300}"

log() { printf '[bootstrap] %s\n' "$*"; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

host_of() { printf '%s' "${1%:*}"; }
port_of() { printf '%s' "${1##*:}"; }
cli() { _node=$1; shift; redis-cli -h "$(host_of "$_node")" -p "$(port_of "$_node")" "$@" 2>&1 | tr -d '\r'; }
cluster_info() { cli "$1" CLUSTER INFO | sed -n "s/^$2://p"; }

# CLUSTER MEET takes IP addresses only: resolve pod DNS names first.
resolve() {
    _host=$(host_of "$1")
    case "$_host" in
        *[!0-9.]*) _ip=$(getent hosts "$_host" | awk 'NR == 1 { print $1 }') ;;
        *) _ip=$_host ;;
    esac
    [ -n "$_ip" ] || die "cannot resolve $_host"
    printf '%s:%s' "$_ip" "$(port_of "$1")"
}

total=0
for node in $REDIS_NODES; do total=$((total + 1)); done
if [ "$total" -ne 1 ] && { [ $((total % (REPLICAS + 1))) -ne 0 ] || [ $((total / (REPLICAS + 1))) -lt 3 ]; }; then
    die "$total nodes with $REPLICAS replicas per master cannot form a cluster: use 1 node, or masters x $((REPLICAS + 1)) nodes with at least 3 masters"
fi

log "waiting up to ${WAIT_SECONDS}s for $total node(s) to answer"
deadline=$(($(date +%s) + WAIT_SECONDS))
for node in $REDIS_NODES; do
    while :; do
        reply=$(cli "$node" PING || true)
        case "$reply" in
            PONG) break ;;
            *WRONGPASS* | *NOAUTH* | *"invalid password"*) die "node $node refused the password: $reply" ;;
        esac
        [ "$(date +%s)" -lt "$deadline" ] || die "node $node did not answer PING within ${WAIT_SECONDS}s (last reply: ${reply:-none})"
        sleep 1
    done
done

# A cluster exists when any node already holds slots or knows other nodes.
for node in $REDIS_NODES; do
    assigned=$(cluster_info "$node" cluster_slots_assigned)
    known=$(cluster_info "$node" cluster_known_nodes)
    [ -n "$assigned" ] || die "node $node is not in cluster mode (CLUSTER INFO failed)"
    if [ "$assigned" -gt 0 ] || [ "$known" -gt 1 ]; then
        state=$(cluster_info "$node" cluster_state)
        if [ "$known" -eq "$total" ] && [ "$state" = ok ]; then
            log "cluster already formed: $known nodes, state ok; nothing to do"
            exit 0
        fi
        die "a cluster already exists ($known of $total nodes known to $node, state $state); it does not match REDIS_NODES, so bootstrap leaves it alone: scale it with the cluster-scale script"
    fi
done

first=${REDIS_NODES%% *}
if [ "$total" -eq 1 ]; then
    log "single node: assigning all 16384 slots to $first"
    reply=$(cli "$first" CLUSTER ADDSLOTSRANGE 0 16383)
    [ "$reply" = OK ] || die "CLUSTER ADDSLOTSRANGE on $first failed: $reply"
else
    addresses=""
    for node in $REDIS_NODES; do addresses="$addresses $(resolve "$node")"; done
    log "creating a cluster of $((total / (REPLICAS + 1))) masters with $REPLICAS replica(s) each:$addresses"
    # shellcheck disable=SC2086 # one argument per address
    redis-cli --cluster create $addresses --cluster-replicas "$REPLICAS" --cluster-yes ||
        die "redis-cli --cluster create failed"
fi

# Formed means every node sees the whole topology (state ok, all nodes, every replica) and every
# replica has synced: gossip takes a moment to carry the replicas' roles around.
replicas_expected=$((total - total / (REPLICAS + 1)))
replicas_seen() { cli "$1" CLUSTER NODES | awk '$3 ~ /slave/' | wc -l | tr -d ' '; }
log "waiting for every node to see the whole cluster, and every replica to sync"
for node in $REDIS_NODES; do
    until [ "$(cluster_info "$node" cluster_state)" = ok ] && [ "$(cluster_info "$node" cluster_known_nodes)" -eq "$total" ] &&
        [ "$(replicas_seen "$node")" -eq "$replicas_expected" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || die "node $node did not see $total nodes with $replicas_expected replicas and state ok within ${WAIT_SECONDS}s"
        sleep 1
    done
    if cli "$node" INFO replication | grep -q '^role:slave'; then
        until cli "$node" INFO replication | grep -q '^master_link_status:up'; do
            [ "$(date +%s)" -lt "$deadline" ] || die "replica $node did not sync with its master within ${WAIT_SECONDS}s"
            sleep 1
        done
    fi
done
check=$(redis-cli --cluster check "$(resolve "$first")" 2>&1 | tr -d '\r') || die "cluster check failed:
$check"
log "cluster formed: $total node(s), all 16384 slots covered"
