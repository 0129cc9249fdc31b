#!/bin/sh
# Empties and removes the Redis Cluster nodes that a smaller REDIS_NODES leaves out (StatefulSet
# ordinals >= the desired count), BEFORE the StatefulSet deletes their pods, so that no slot is ever
# lost or unserved:
#   1. a leaving master whose replica stays hands over by failover when the staying side needs masters;
#   2. the slots of every other leaving master move, with their keys, to the staying masters
#      (redis-cli --cluster rebalance with weight 0; every slot keeps an owner throughout);
#   3. staying replicas of a leaving master follow a staying master instead;
#   4. every staying node forgets the leaving ones, which are then reset so they cannot rejoin.
# The reconcile Job that runs after the StatefulSet update restores the replica layout.
#
# A fast no-op when nothing exists yet (fresh install: no pod name resolves, while the cluster DNS
# answers; a DNS that does not answer fails the Job, never passes for "nothing exists") and when no node is
# above the desired count (every scale-out, every unrelated update). Runs in the scale-in Job and,
# unchanged, in the tests against local redis-server processes.
#
# Environment:
#   REDIS_NODES     the desired nodes as host:port, space-separated, in StatefulSet ordinal order
#   REDIS_REPLICAS  desired replicas per master (0 with a single node)
#   REDIS_USER, REDISCLI_AUTH   the maintenance user and its password (redis-client.sh): never in argv
#   REDIS_TLS, REDIS_TLS_CA_FILE   TLS to the nodes (redis-client.sh)
#   WAIT_SECONDS    how long to wait for nodes to answer and for the cluster to settle (default 300)
#   POLL_SECONDS    how long a wait sleeps between checks (default 1)
#   REDIS_DNS_CANARY, STANDIN_HOSTS_FILE_FOR_TESTS   see redis-resolve.sh
set -eu
LOG_TAG=scale-in
# shellcheck source=redis-cluster-lib.sh
. "$(dirname "$0")/redis-cluster-lib.sh"

read_desired_topology
deadline=$(($(date +%s) + WAIT_SECONDS))

# A seed: a desired node that exists and belongs to a formed cluster. Desired nodes whose names do
# not resolve while the cluster DNS answers do not exist yet (a scale-out, or a fresh install when
# none does); when the DNS does not answer at all, lookup fails the Job instead.
seed=""
existing=0
for node in $REDIS_NODES; do
    if ! is_ip "$node"; then
        lookup "$node"
        [ -n "$_ip" ] || continue
    fi
    existing=$((existing + 1))
    wait_ping "$node" "$deadline"
    if [ "$(cluster_info "$node" cluster_known_nodes)" -gt 1 ] || [ "$(cluster_info "$node" cluster_slots_assigned)" -gt 0 ]; then
        seed=$node
        break
    fi
done
if [ "$existing" -eq 0 ]; then
    log "no node of the cluster exists yet: nothing to drain"
    exit 0
fi
if [ -z "$seed" ]; then
    log "no cluster is formed yet: nothing to drain"
    exit 0
fi

view=$(topology "$seed")
# No more nodes than wanted: none can be above the desired count (StatefulSet ordinals have no
# holes). This also lets a cluster whose nodes do not announce pod names yet (they start to once the
# StatefulSet update that follows restarts them) through an upgrade.
if [ "$(printf '%s\n' "$view" | wc -l | tr -d ' ')" -le "$total" ]; then
    log "no node above the desired $total: nothing to drain"
    exit 0
fi
unnamed=$(unnamed_nodes "$seed" "$deadline")
[ -z "$unnamed" ] || die "node(s)$unnamed announce no pod name (cluster-announce-hostname): cannot tell which nodes leave; nothing was changed"
view=$(topology "$seed")
leaving=$(printf '%s\n' "$view" | awk -v n="$total" '$3 >= n { print $1 }')
if [ -z "$leaving" ]; then
    log "no node above the desired $total: nothing to drain"
    exit 0
fi
ordinals() { for _id in $1; do printf ' #%s' "$(node_ordinal "$view" "$_id")"; done; }
log "draining$(ordinals "$leaving") to keep $total node(s)"
# One maintenance run at a time: a periodic reconcile must not move slots while these move.
take_lock "$seed" "$deadline"

seed_addr=$(resolve "$seed")
require_healthy "$seed_addr"
view=$(topology "$seed")

staying_slot_masters() { printf '%s\n' "$view" | awk -v n="$total" '$4 == "master" && $6 > 0 && $3 < n { print $1 }'; }
leaving_slot_masters() { printf '%s\n' "$view" | awk -v n="$total" '$4 == "master" && $6 > 0 && $3 >= n { print $1 }'; }
count() { printf '%s\n' "$1" | grep -c . || true; }

# 1. Failover: a staying replica takes over its leaving master's slots without moving any key.
for id in $(leaving_slot_masters); do
    [ "$(count "$(staying_slot_masters)")" -lt "$masters" ] || break
    heir=$(printf '%s\n' "$view" | awk -v m="$id" -v n="$total" '$4 == "replica" && $5 == m && $3 < n && $7 !~ /fail/ { print $1; exit }')
    [ -n "$heir" ] || continue
    address=$(node_address "$view" "$heir")
    log "failing over #$(node_ordinal "$view" "$id") to its replica #$(node_ordinal "$view" "$heir")"
    fail_over "$address" "$heir" "$seed" "$deadline"
    view=$(topology "$seed")
done

# 2. Move the remaining slots of leaving masters to the staying masters.
drain=$(leaving_slot_masters)
if [ -n "$drain" ]; then
    receivers=$(staying_slot_masters)
    receiving=$(count "$receivers")
    [ "$receiving" -gt 0 ] || die "no staying node holds slots or can take over from a leaving master; nothing was moved"
    # Refuse before moving anything when the staying masters would run out of memory (noeviction
    # refuses the migrated keys and leaves the slot half-moved).
    moving=0
    for id in $drain; do
        moving=$((moving + $(info_field "$(node_address "$view" "$id")" memory used_memory_dataset)))
    done
    for id in $receivers; do
        address=$(node_address "$view" "$id")
        # From INFO, not CONFIG GET: the maintenance user may not read the config (it holds masterauth).
        limit=$(info_field "$address" memory maxmemory)
        used=$(info_field "$address" memory used_memory)
        projected=$((used + moving / receiving))
        if [ "${limit:-0}" -gt 0 ] && [ $((projected * 10)) -gt $((limit * 9)) ]; then
            die "draining would put about $projected bytes on #$(node_ordinal "$view" "$id") (maxmemory $limit, 90% allowed): grow the nodes' memory or keep more nodes; nothing was moved"
        fi
    done
    wait_agreement "$(printf '%s\n' "$view" | awk '{ print $2 }')" "$(printf '%s\n' "$view" | wc -l | tr -d ' ')" "$deadline"
    log "moving the slots of$(ordinals "$drain") to$(ordinals "$receivers")"
    # shellcheck disable=SC2046 # one weight argument per leaving master
    rebalance "$seed_addr" --cluster-weight $(for id in $drain; do printf '%s=0 ' "$id"; done)
    view=$(topology "$seed")
    [ -z "$(leaving_slot_masters)" ] || die "slots are still on$(ordinals "$(leaving_slot_masters)") after rebalancing"
fi

# 3. Staying replicas of leaving masters follow the staying master with the fewest replicas.
orphans=$(printf '%s\n' "$view" | awk -v n="$total" '$3 >= n { leaving[$1] = 1 } { line[NR] = $0 }
    END { for (i = 1; i <= NR; i++) { split(line[i], f, " "); if (f[4] == "replica" && f[3] < n && (f[5] in leaving)) print f[1] } }')
for id in $orphans; do
    master=$(printf '%s\n' "$view" | awk -v n="$total" '$3 < n && $4 == "replica" { follows[$5]++ } $3 < n && $4 == "master" && $6 > 0 { m[$1] = 1 }
        END { best = ""; for (x in m) if (best == "" || follows[x] + 0 < follows[best] + 0) best = x; print best }')
    log "node #$(node_ordinal "$view" "$id") now replicates #$(node_ordinal "$view" "$master")"
    make_replica "$(node_address "$view" "$id")" "$master"
    view=$(topology "$seed")
done

# 4. Forget the leaving nodes everywhere, then reset them: a reset node knows no cluster, so neither
#    it nor gossip about it brings it back, and its retained volume starts empty if the pod returns.
staying=$(printf '%s\n' "$view" | awk -v n="$total" '$3 < n { print $2 }')
for id in $leaving; do
    for address in $staying; do
        reply=$(cli "$address" CLUSTER FORGET "$id")
        case "$reply" in OK | *"Unknown node"*) ;; *) die "CLUSTER FORGET $id on $address failed: $reply" ;; esac
    done
    address=$(node_address "$view" "$id")
    reply=$(cli "$address" CLUSTER RESET HARD || true)
    [ "$reply" = OK ] || log "could not reset #$(node_ordinal "$view" "$id") ($address: ${reply:-no reply}); it is forgotten, and its pod is about to go"
done

remaining=$(count "$staying")
log "waiting for the $remaining remaining node(s) to agree"
for address in $staying; do
    until [ "$(cluster_info "$address" cluster_known_nodes)" = "$remaining" ] && [ "$(cluster_info "$address" cluster_state)" = ok ]; do
        [ "$(date +%s)" -lt "$deadline" ] || die "node $address did not settle on $remaining nodes within ${WAIT_SECONDS}s"
        pause
    done
done
check=$(rcli --cluster check "$seed_addr" 2>&1 | tr -d '\r') || die "cluster check failed after draining:
$check"
log "drained$(ordinals "$leaving"): $remaining node(s) hold all $TOTAL_SLOTS slots"
