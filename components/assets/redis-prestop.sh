#!/bin/sh
# The preStop hook of a Redis Cluster node: a master hands its slots to an in-sync replica before the
# kubelet sends SIGTERM, so that a roll (new image, config change, node drain) shows no failed writes.
#
# Without it, a master's shutdown is an unplanned failover: its clients get connection errors until
# cluster-node-timeout passes and a replica wins an election (6-16 s per shard). With it, the node's
# replica runs CLUSTER FAILOVER (the manual, coordinated kind): the master pauses its clients, the
# replica catches up to the master's replication offset, takes over with a new config epoch, and the
# old master answers its paused clients with MOVED to the new one. Clients wait a moment; no write fails.
#
# It waits (bounded by PRESTOP_FAILOVER_SECONDS) until this node has turned into a replica and
# every other node knows it, then a moment more (PRESTOP_DRAIN_SECONDS) so that clients still
# sending here get MOVED. When no replica is in sync, or the handover does not finish in time, it
# says so and exits 0: the node stops as before and the cluster fails over on its own. A replica,
# or a master without slots, just stops.
# The pod's terminationGracePeriodSeconds covers this wait plus the shutdown's own (redisCluster.ts).
#
# Environment:
#   REDIS_USER, REDISCLI_AUTH the node's own user and its password (redis-client.sh: never in argv)
#   REDIS_TLS, REDIS_TLS_CA_FILE  TLS to the nodes (redis-client.sh)
#   REDIS_PORT                the data port every node uses (default 6379)
#   REDIS_PROBE_HOST          this node's address (default 127.0.0.1; the tests' nodes bind their own)
#   PRESTOP_FAILOVER_SECONDS  how long to wait for the role swap (default 30)
#   PRESTOP_MAX_LAG_BYTES     how far behind the master's offset a replica may be to count as in sync (default 1048576)
#   PRESTOP_DRAIN_SECONDS     how long the node keeps answering (MOVED) after the swap, within the budget (default 2)
#   POLL_SECONDS              how often to check (default 0.2)
set -u
host=${REDIS_PROBE_HOST:-127.0.0.1}
port=${REDIS_PORT:-6379}
budget=${PRESTOP_FAILOVER_SECONDS:-30}
max_lag=${PRESTOP_MAX_LAG_BYTES:-1048576}
drain_seconds=${PRESTOP_DRAIN_SECONDS:-2}
poll=${POLL_SECONDS:-0.2}

log() { printf '[prestop %s:%s] %s\n' "$host" "$port" "$*"; }
# shellcheck source=redis-client.sh
. "$(dirname "$0")/redis-client.sh"
cli() { _h=$1; _p=$2; shift 2; rcli -h "$_h" -p "$_p" "$@" 2>&1 | tr -d '\r'; }
field() { printf '%s\n' "$1" | sed -n "s/^$2://p"; }

replication=$(cli "$host" "$port" INFO replication)
if [ "$(field "$replication" role)" != master ]; then
    log "a replica, or not answering ($(printf '%s\n' "$replication" | head -n 1)): nothing to hand over"
    exit 0
fi
myid=$(cli "$host" "$port" CLUSTER MYID)
# Slot ranges are the 9th field on; a master without any (new, or drained by the scale-in Job) has nothing to hand over.
if [ -z "$(cli "$host" "$port" CLUSTER NODES | awk '$3 ~ /myself/ { for (i = 9; i <= NF; i++) if ($i !~ /^\[/) { print "slots"; exit } }')" ]; then
    log "a master without slots: nothing to hand over"
    exit 0
fi

# Waits (within the budget) until every other node that answers counts this node as a replica. One
# that still counts it as its slots' master would send clients back here (MOVED) while it restarts,
# and, once it stops answering, mark those slots uncovered and refuse every key (CLUSTERDOWN) until
# it learns of the handover: a few failed writes in a roll on a busy machine, in the tests.
wait_until_known() {
    while [ "$(date +%s)" -lt "$deadline" ]; do
        stale=""
        for peer in $(cli "$host" "$port" CLUSTER NODES | awk '$3 !~ /myself|fail|noaddr|handshake/ { split($2, a, "@"); print a[1] }'); do
            # Flags of this node in the peer's view; empty when the peer does not answer (it serves no one then).
            flags=$(cli "${peer%:*}" "${peer##*:}" CLUSTER NODES | awk -v id="$myid" '$1 == id { print $3 }')
            case ",$flags," in ,, | *,slave,*) ;; *) stale="$stale $peer" ;; esac
        done
        if [ -z "$stale" ]; then
            log "every node that answers knows it"
            return 0
        fi
        sleep "$poll"
    done
    log "still counted as a master by:$stale (budget spent)"
}
deadline=$(($(date +%s) + budget))
attempt=0
while [ "$(date +%s)" -lt "$deadline" ]; do
    attempt=$((attempt + 1))
    master_offset=$(field "$(cli "$host" "$port" INFO replication)" master_repl_offset)
    # This master's replicas that the cluster does not consider failing: <ip:port@cport[,hostname]> <flags>.
    best=""
    best_offset=-1
    for replica in $(cli "$host" "$port" CLUSTER REPLICAS "$myid" | awk '$3 !~ /fail|noaddr|handshake/ { split($2, a, "@"); print a[1] }'); do
        r_host=${replica%:*}
        r_port=${replica##*:}
        r_info=$(cli "$r_host" "$r_port" INFO replication)
        [ "$(field "$r_info" master_link_status)" = up ] || continue
        r_offset=$(field "$r_info" slave_repl_offset)
        case "$r_offset" in '' | *[!0-9]*) continue ;; esac
        [ $((master_offset - r_offset)) -le "$max_lag" ] || continue
        if [ "$r_offset" -gt "$best_offset" ]; then
            best=$replica
            best_offset=$r_offset
        fi
    done
    if [ -z "$best" ]; then
        log "no replica in sync (link up, within $max_lag bytes of offset $master_offset) on attempt $attempt; checking again"
        sleep 1
        continue
    fi
    log "handing over to replica $best (offset $best_offset of $master_offset): CLUSTER FAILOVER"
    reply=$(cli "${best%:*}" "${best##*:}" CLUSTER FAILOVER)
    [ "$reply" = OK ] || log "the replica answered: $reply"
    # Redis aborts a manual failover that has not completed in 5 s; try again while the budget lasts.
    swap_deadline=$(($(date +%s) + 6))
    while [ "$(date +%s)" -lt "$swap_deadline" ] && [ "$(date +%s)" -lt "$deadline" ]; do
        if [ "$(field "$(cli "$host" "$port" INFO replication)" role)" = slave ]; then
            log "handed over: $best is the master now, this node is its replica"
            wait_until_known
            # A moment more of answering MOVED: clients with requests on their way learn the new
            # master from this node, not from a refused connection. Within the budget.
            drain=$((deadline - $(date +%s)))
            [ "$drain" -le "$drain_seconds" ] || drain=$drain_seconds
            [ "$drain" -le 0 ] || sleep "$drain"
            exit 0
        fi
        sleep "$poll"
    done
    log "the role swap did not complete (attempt $attempt)"
done
log "no handover within ${budget}s: stopping anyway, the cluster fails over on its own after cluster-node-timeout"
exit 0
