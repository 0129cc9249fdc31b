#!/bin/sh
# Forms the Redis Cluster once every node answers, or brings an existing one to REDIS_NODES: new
# nodes join, the cluster gets exactly nodes / (1 + REDIS_REPLICAS) masters holding slots, each with
# REDIS_REPLICAS replicas, and the slots are spread evenly (redis-cli --cluster rebalance moves keys
# with their slots, so every slot stays served). Where the nodes announce their zones, each replica
# follows a master in another zone and the masters spread over the zones (failovers, no key moves).
# A cluster already in that shape is left alone.
#
# It never removes a node: nodes above the desired count are drained and removed by
# redis-cluster-scale-in.sh before the StatefulSet shrinks. A node whose pod came back with an empty
# volume has a new identity: its old one, failed and without slots, is forgotten and the new one
# joins in its place. Runs in the reconcile Job after the StatefulSet has all its pods, in the
# periodic reconcile (CronJob, RECONCILE_MODE=periodic) and, unchanged, in the tests against local
# redis-server processes. One maintenance run at a time (the lock in redis-cluster-lib.sh).
#
# Periodic mode changes only a formed cluster whose desired nodes all answer, none beyond them, and
# while no other run holds the lock; otherwise it exits 0 and leaves the cluster to the deployment's
# Jobs (forming a cluster, a scale-in or a scale-out under way).
#
# Environment:
#   REDIS_NODES     every node as host:port, space-separated, in StatefulSet ordinal order
#   REDIS_REPLICAS  replicas per master (0 with a single node)
#   REDIS_USER, REDISCLI_AUTH   the maintenance user and its password (redis-client.sh): never in argv
#   REDIS_TLS, REDIS_TLS_CA_FILE   TLS to the nodes (redis-client.sh)
#   WAIT_SECONDS    how long to wait for nodes to answer and for the cluster to settle (default 300)
#   POLL_SECONDS    how long a wait sleeps between checks (default 1)
#   RECONCILE_MODE  "periodic" in the CronJob; empty in the Job
#   REDIS_DNS_CANARY, STANDIN_HOSTS_FILE_FOR_TESTS   see redis-resolve.sh
set -eu
LOG_TAG=reconcile
# shellcheck source=redis-cluster-lib.sh
. "$(dirname "$0")/redis-cluster-lib.sh"

read_desired_topology
replicas_expected=$((total - masters))

periodic=""
[ "${RECONCILE_MODE:-}" != periodic ] || periodic=yes
leave() { log "periodic: $*; left to the deployment's Jobs"; exit 0; }

deadline=$(($(date +%s) + WAIT_SECONDS))
if [ -n "$periodic" ]; then
    # A node that does not exist or answer yet: a scale-out or a roll under way, or a fresh install.
    for node in $REDIS_NODES; do
        if ! is_ip "$node"; then
            lookup "$node"
            [ -n "$_ip" ] || leave "$node does not exist yet"
        fi
        [ "$(cli "$node" PING)" = PONG ] || leave "$node does not answer"
    done
else
    log "waiting up to ${WAIT_SECONDS}s for $total node(s) to answer"
    for node in $REDIS_NODES; do wait_ping "$node" "$deadline"; done
fi

# The cluster, if there is one, is where the slots are.
seed=""
for node in $REDIS_NODES; do
    assigned=$(cluster_info "$node" cluster_slots_assigned)
    [ -n "$assigned" ] || die "node $node is not in cluster mode (CLUSTER INFO failed)"
    if [ -z "$seed" ] && [ "$assigned" -gt 0 ]; then seed=$node; fi
done

form_cluster() {
    for node in $REDIS_NODES; do
        known=$(cluster_info "$node" cluster_known_nodes)
        [ "$known" -eq 1 ] ||
            die "node $node knows $known nodes but no node holds slots: a half-formed cluster, left alone; reset every node (CLUSTER RESET HARD) and run again"
    done
    first=${REDIS_NODES%% *}
    if [ "$total" -eq 1 ]; then
        log "single node: assigning all $TOTAL_SLOTS slots to $first"
        reply=$(cli "$first" CLUSTER ADDSLOTSRANGE 0 $((TOTAL_SLOTS - 1)))
        [ "$reply" = OK ] || die "CLUSTER ADDSLOTSRANGE on $first failed: $reply"
    else
        addresses=""
        for node in $REDIS_NODES; do addresses="$addresses $(resolve "$node")"; done
        log "creating a cluster of $masters masters with $REPLICAS replica(s) each:$addresses"
        # shellcheck disable=SC2086 # one argument per address
        rcli --cluster create $addresses --cluster-replicas "$REPLICAS" --cluster-yes ||
            die "redis-cli --cluster create failed"
    fi
}

# The cluster seen from the seed has exactly the desired shape: every desired node, the right
# number of slot-holding masters each with REPLICAS replicas, slots within the balance threshold.
layout_ok() {
    printf '%s\n' "$1" | awk -v total="$total" -v masters="$masters" -v r="$REPLICAS" -v thr="$BALANCE_THRESHOLD" -v all="$TOTAL_SLOTS" '
        { n++ }
        $4 == "master" && $6 > 0 { m++; slots[$1] = $6; next }
        $4 == "replica" && $7 !~ /fail/ { following[$5]++; next }
        { other++ }
        END {
            if (n != total || m != masters || other > 0) exit 1
            ideal = all / masters
            for (id in following) if (!(id in slots)) exit 1
            for (id in slots) {
                if (following[id] + 0 != r) exit 1
                d = slots[id] - ideal; if (d < 0) d = -d
                if (d > ideal * thr / 100) exit 1
            }
        }'
}

# Which nodes must (re)attach to which target master, one "<replica id> <master id> [same-zone|same-host]"
# per line, for the topology $1 and the space-separated target master ids $2: every node that is not
# a target replicates one, REPLICAS per target. Two rounds, each an augmenting path (the most pairs
# the failure domains allow): first a master in another zone (and so on another host); for the nodes
# left, a master on another host in the same zone. Replicas already placed that well stay; the others
# get such a master, moving a staying replica along when that frees one. Only when no such place is
# left does a node share its master's zone ("same-zone") or, last, its host ("same-host"). Where the
# zone is unknown, the host stands in for it (topology's <domain>); a node without either clashes with none.
replica_plan() {
    printf '%s\n' "$1" | awk -v targets="$2" -v r="$REPLICAS" '
        function sameZone(x, m) { return zone[x] != "-" && zone[x] == zone[m] }
        function sameHost(x, m) { return host[x] != "-" && host[x] == host[m] }
        # Round 1 refuses a master in the same zone or on the same host, round 2 on the same host only.
        function clash(x, m) { return sameHost(x, m) || (round == 1 && sameZone(x, m)) }
        # A master for x that does not clash: one with room first (its current master first), and only
        # then one whose replica can move on to another master in turn, so nothing moves needlessly.
        function attach(x,    i, m, k, y) {
            for (i = 0; i <= nt; i++) {
                m = (i == 0) ? cur[x] : t[i]
                if ((m in isTarget) && !(m in seen) && !clash(x, m) && load[m] < r) { seen[m] = 1; assign[x] = m; load[m]++; return 1 }
            }
            for (i = 0; i <= nt; i++) {
                m = (i == 0) ? cur[x] : t[i]
                if (!(m in isTarget) || (m in seen) || clash(x, m)) continue
                seen[m] = 1
                for (k = 1; k <= nc; k++) {
                    y = cand[k]
                    if ((y in assign) && assign[y] == m && attach(y)) { assign[x] = m; return 1 }
                }
            }
            return 0
        }
        BEGIN { nt = split(targets, t, " "); for (i = 1; i <= nt; i++) { isTarget[t[i]] = 1; load[t[i]] = 0 } }
        NF >= 9 { id[NR] = $1; role[$1] = $4; cur[$1] = $5; zone[$1] = $8; host[$1] = $9 }
        END {
            # Replicas first, so that a drained master moves only after its replicas found a new master.
            for (i = 1; i <= NR; i++) { x = id[i]; if (x != "" && !(x in isTarget) && role[x] == "replica") cand[++nc] = x }
            for (i = 1; i <= NR; i++) { x = id[i]; if (x != "" && !(x in isTarget) && role[x] != "replica") cand[++nc] = x }
            for (round = 1; round <= 2; round++) {
                for (k = 1; k <= nc; k++) {
                    x = cand[k]; m = cur[x]
                    if (!(x in assign) && role[x] == "replica" && (m in isTarget) && !clash(x, m) && load[m] < r) { assign[x] = m; load[m]++ }
                }
                for (k = 1; k <= nc; k++) { x = cand[k]; if (!(x in assign)) { split("", seen); attach(x) } }
            }
            for (k = 1; k <= nc; k++) {
                x = cand[k]
                if (x in assign) continue
                m = ""
                if ((cur[x] in isTarget) && load[cur[x]] < r) m = cur[x]
                for (i = 1; m == "" && i <= nt; i++) if (load[t[i]] < r) m = t[i]
                if (m != "") { assign[x] = m; load[m]++ }
            }
            for (k = 1; k <= nc; k++) {
                x = cand[k]
                if (!(x in assign) || (role[x] == "replica" && cur[x] == assign[x])) continue
                print x, assign[x], (sameHost(x, assign[x]) ? "same-host" : (sameZone(x, assign[x]) ? "same-zone" : ""))
            }
        }'
}

# The replica to fail over (CLUSTER FAILOVER swaps it with its master, moving no key) so that the
# slot-holding masters spread over the zones, then over the hosts within a zone, or nothing. A zone
# (or host) holding most masters would take the cluster down with it: their replicas elsewhere cannot
# be promoted without a majority of masters. It picks a replica whose zone has at least two masters
# fewer than its master's; failing that, a replica in its master's zone (the zones' spread stays as
# it is) whose host has at least two masters fewer than its master's.
spread_plan() {
    printf '%s\n' "$1" | awk '
        NF >= 9 { id[NR] = $1; role[$1] = $4; master[$1] = $5; slots[$1] = $6; zone[$1] = $8; host[$1] = $9 }
        NF >= 9 && $4 == "master" && $6 > 0 && $8 != "-" { held[$8]++ }
        NF >= 9 && $4 == "master" && $6 > 0 && $9 != "-" { onHost[$9]++ }
        END {
            best = ""; gain = 1
            for (i = 1; i <= NR; i++) {
                x = id[i]; m = master[x]
                if (x == "" || role[x] != "replica" || zone[x] == "-" || !(m in zone) || zone[m] == "-" || slots[m] == 0) continue
                g = held[zone[m]] - held[zone[x]]
                if (g > gain) { gain = g; best = x }
            }
            for (i = 1; best == "" && i <= NR; i++) {
                x = id[i]; m = master[x]
                if (x == "" || role[x] != "replica" || host[x] == "-" || !(m in host) || host[m] == "-" || slots[m] == 0 || zone[x] != zone[m]) continue
                if (onHost[host[m]] - onHost[host[x]] > 1) best = x
            }
            if (best != "") print best
        }'
}

# Attaches every node that is not one of the target masters ($1, ids) to one, as replica_plan says.
place_replicas() {
    view=$(topology "$seed")
    plan=$(replica_plan "$view" "$1")
    printf '%s\n' "$plan" | while read -r replica master clash; do
        [ -n "$replica" ] || continue
        where=""
        [ "$(node_zone "$view" "$replica")" = - ] || where=" (zone $(node_zone "$view" "$replica") -> $(node_zone "$view" "$master"))"
        [ "$(node_host "$view" "$replica")" = - ] || [ "$(node_host "$view" "$replica")" = "$(node_zone "$view" "$replica")" ] ||
            where="$where (host $(node_host "$view" "$replica") -> $(node_host "$view" "$master"))"
        log "node #$(node_ordinal "$view" "$replica") replicates #$(node_ordinal "$view" "$master")$where"
        case "$clash" in
            same-zone) log "WARNING: #$(node_ordinal "$view" "$replica") shares its master's zone (on another host): the zones hold no better placement" ;;
            same-host) log "WARNING: #$(node_ordinal "$view" "$replica") shares its master's host: no other host has room; spread the pods over more nodes" ;;
        esac
        make_replica "$(node_address "$view" "$replica")" "$master" "$seed"
    done
}

# Fails replicas over until the masters are spread over the zones (see spread_plan), re-placing the
# replicas after each swap (the other replicas of a swapped master follow the new one).
spread_masters() {
    _rounds=0
    while [ "$_rounds" -lt "$total" ]; do
        view=$(topology "$seed")
        heir=$(spread_plan "$view")
        [ -n "$heir" ] || return 0
        old=$(node_field "$view" "$heir" 5)
        address=$(node_address "$view" "$heir")
        log "failing over #$(node_ordinal "$view" "$old") (zone $(node_zone "$view" "$old")) to its replica #$(node_ordinal "$view" "$heir") (zone $(node_zone "$view" "$heir")), to spread the masters over the zones"
        wait_converged "$address" "$total" "$replicas_expected" "$deadline"
        fail_over "$address" "$heir" "$seed" "$deadline"
        until [ "$(node_field "$(topology "$seed")" "$old" 4)" = replica ]; do
            [ "$(date +%s)" -lt "$deadline" ] || die "#$(node_ordinal "$view" "$old") did not turn into a replica of #$(node_ordinal "$view" "$heir") within ${WAIT_SECONDS}s"
            pause
        done
        place_replicas "$(topology "$seed" | awk '$4 == "master" && $6 > 0 { printf "%s ", $1 }')"
        _rounds=$((_rounds + 1))
    done
}

# The old identity of a node whose pod came back with an empty volume: flagged fail, holding no slots
# (its replica took them over, or it was a replica), while the pod of the same ordinal answers as
# another node that knows no other node, holds no slot and no key. That identity is gone for good:
# every node forgets it, and the new node joins in its place below. A failed node that still holds
# slots (a master lost with its replica) is left alone: forgetting it would not bring its keys back.
forget_superseded() {
    _view=$(topology "$seed")
    for _id in $(printf '%s\n' "$_view" | awk '$7 ~ /(^|,)fail(,|$)/ && $6 == 0 && $3 != "-" { print $1 }'); do
        _ordinal=$(node_ordinal "$_view" "$_id")
        _node=$(echo "$REDIS_NODES" | tr ' ' '\n' | grep . | sed -n "$((_ordinal + 1))p")
        [ -n "$_node" ] || continue
        _now=$(cli "$_node" CLUSTER MYID)
        if [ -z "$_now" ] || [ "$_now" = "$_id" ]; then continue; fi
        if [ "$(cluster_info "$_node" cluster_known_nodes)" != 1 ] || [ "$(cluster_info "$_node" cluster_slots_assigned)" != 0 ] || [ "$(cli "$_node" DBSIZE)" != 0 ]; then continue; fi
        log "#$_ordinal came back empty as $_now: every node forgets its old identity $_id (failed, no slots)"
        for _other in $(printf '%s\n' "$_view" | awk -v id="$_id" '$1 != id && $7 !~ /(^|,)fail(,|$)/ { print $2 }'); do
            cli "$_other" CLUSTER FORGET "$_id" >/dev/null
        done
    done
}

if [ -z "$seed" ]; then
    [ -z "$periodic" ] || leave "no cluster is formed yet"
    form_cluster
    if [ "$total" -gt 1 ] && [ "$REPLICAS" -gt 0 ]; then
        # redis-cli --cluster create pairs nodes by address only: place the replicas by zone.
        seed=${REDIS_NODES%% *}
        wait_agreement "$REDIS_NODES" "$total" "$deadline"
        # The cluster serves slots now: from here on, one maintenance run at a time.
        take_lock "$seed" "$deadline"
        place_replicas "$(topology "$seed" | awk '$4 == "master" && $6 > 0 { printf "%s ", $1 }')"
        spread_masters
    fi
else
    seed_addr=$(resolve "$seed")
    unnamed=$(unnamed_nodes "$seed" "$deadline")
    [ -z "$unnamed" ] || die "node(s)$unnamed announce no pod name (cluster-announce-hostname): cannot tell which StatefulSet ordinal they are; nothing was changed"
    view=$(topology "$seed")
    outsiders=$(printf '%s\n' "$view" | awk -v n="$total" '$3 >= n { printf " #%s (%s)", $3, $2 }')
    [ -z "$outsiders" ] || [ -z "$periodic" ] || leave "node(s) beyond the $total desired:$outsiders (a scale-in under way)"
    [ -z "$outsiders" ] ||
        die "the cluster has node(s) beyond the $total desired:$outsiders; redis-cluster-scale-in.sh (the scale-in Job) drains and removes them before the StatefulSet shrinks; nothing was changed"

    if [ -n "$periodic" ]; then take_lock "$seed_addr" skip; else take_lock "$seed_addr" "$deadline"; fi
    forget_superseded

    # A node restarted with a new IP is flagged until gossip catches up: let it settle first.
    until [ -z "$(topology "$seed" | awk '$7 ~ /fail|noaddr|handshake/')" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || die "the cluster still flags failed nodes after ${WAIT_SECONDS}s:
$(topology "$seed" | awk '$7 ~ /fail|noaddr|handshake/')"
        pause
    done
    view=$(topology "$seed")
    if [ "$(printf '%s\n' "$view" | wc -l | tr -d ' ')" -eq "$total" ] && layout_ok "$view" && [ "$(cluster_info "$seed" cluster_state)" = ok ] &&
        [ -z "$(replica_plan "$view" "$(printf '%s\n' "$view" | awk '$4 == "master" && $6 > 0 { printf "%s ", $1 }')")" ] &&
        [ -z "$(spread_plan "$view")" ]; then
        log "cluster already formed: $total nodes, state ok; nothing to do"
        exit 0
    fi
    require_healthy "$seed_addr"

    # 1. Join the nodes the cluster does not know yet (new pods; retained volumes that were reset).
    joined=""
    for node in $REDIS_NODES; do
        id=$(cli "$node" CLUSTER MYID)
        [ -z "$(node_field "$view" "$id" 1)" ] || continue
        known=$(cluster_info "$node" cluster_known_nodes)
        assigned=$(cluster_info "$node" cluster_slots_assigned)
        keys=$(cli "$node" DBSIZE)
        if [ "$known" -ne 1 ] || [ "$assigned" -ne 0 ] || [ "$keys" != 0 ]; then
            die "node $node is not in the cluster but is not empty (knows $known nodes, $assigned slots, $keys keys): it belongs to another cluster or holds old data; reset it (CLUSTER RESET HARD) if that data is disposable"
        fi
        log "joining $node"
        reply=$(cli "$node" CLUSTER MEET "$(host_of "$seed_addr")" "$(port_of "$seed_addr")")
        [ "$reply" = OK ] || die "CLUSTER MEET from $node failed: $reply"
        joined="$joined $node"
    done
    for node in $joined; do
        until [ "$(cluster_info "$node" cluster_known_nodes)" = "$total" ] && [ -z "$(topology "$seed" | awk '$7 ~ /handshake|noaddr/')" ]; do
            [ "$(date +%s)" -lt "$deadline" ] || die "node $node did not learn all $total nodes within ${WAIT_SECONDS}s"
            pause
        done
    done
    view=$(topology "$seed")

    # 2. Exactly $masters masters hold slots. Too many: drain the highest ordinals (they become
    #    replicas below). Too few: empty masters first (new nodes), then spare replicas, which are
    #    reset and rejoin empty (only their copy of the data is dropped; their master keeps it).
    slot_masters=$(printf '%s\n' "$view" | awk '$4 == "master" && $6 > 0 { print $1 }')
    count=$(printf '%s\n' "$slot_masters" | grep -c . || true)
    if [ "$count" -gt "$masters" ]; then
        demote=$(printf '%s\n' "$slot_masters" | tail -n $((count - masters)))
        log "$count masters hold slots, $masters wanted: moving the slots of$(for id in $demote; do printf ' #%s' "$(node_ordinal "$view" "$id")"; done) to the others"
        wait_agreement "$(printf '%s\n' "$view" | awk '{ print $2 }')" "$(printf '%s\n' "$view" | wc -l | tr -d ' ')" "$deadline"
        # shellcheck disable=SC2046 # one weight argument per master
        rebalance "$seed_addr" --cluster-weight $(for id in $demote; do printf '%s=0 ' "$id"; done)
        view=$(topology "$seed")
        slot_masters=$(printf '%s\n' "$view" | awk '$4 == "master" && $6 > 0 { print $1 }')
    fi
    targets=$(printf '%s\n' "$slot_masters" | head -n "$masters" | tr '\n' ' ')
    need=$((masters - $(printf '%s\n' "$slot_masters" | head -n "$masters" | grep -c . || true)))
    if [ "$need" -gt 0 ]; then
        empties=$(printf '%s\n' "$view" | awk '$4 == "master" && $6 == 0 { print $1 }' | head -n "$need")
        for id in $empties; do targets="$targets$id "; need=$((need - 1)); done
    fi
    if [ "$need" -gt 0 ]; then
        # Replicas of the masters with the most replicas go first, so no master is left without one early.
        spare=$(printf '%s\n' "$view" | awk '$4 == "replica" { n[$5]++; line[NR] = $1 " " $5 }
            END { for (i in line) { split(line[i], p, " "); print n[p[2]], p[1] } }' | sort -k1,1nr -k2 | head -n "$need" | awk '{ print $2 }')
        for id in $spare; do
            address=$(node_address "$view" "$id")
            log "turning replica #$(node_ordinal "$view" "$id") into an empty master"
            for other in $(printf '%s\n' "$view" | awk -v id="$id" '$1 != id { print $2 }'); do cli "$other" CLUSTER FORGET "$id" >/dev/null; done
            reply=$(cli "$address" CLUSTER RESET HARD)
            [ "$reply" = OK ] || die "CLUSTER RESET HARD on $address failed: $reply"
            reply=$(cli "$address" CLUSTER MEET "$(host_of "$seed_addr")" "$(port_of "$seed_addr")")
            [ "$reply" = OK ] || die "CLUSTER MEET from $address failed: $reply"
            until [ "$(cluster_info "$address" cluster_known_nodes)" = "$total" ]; do
                [ "$(date +%s)" -lt "$deadline" ] || die "node $address did not rejoin within ${WAIT_SECONDS}s"
                pause
            done
            targets="$targets$(cli "$address" CLUSTER MYID) "
        done
        view=$(topology "$seed")
    fi

    # 3. Every other node is a replica of a target, away from its master's zone where zones are known
    #    and always off its master's host; masters spread over the zones, then the hosts.
    place_replicas "$targets"
    spread_masters

    # 4. Spread the slots evenly over the masters, new (empty) ones included.
    wait_agreement "$REDIS_NODES" "$total" "$deadline"
    rebalance "$seed_addr" --cluster-use-empty-masters
fi

log "waiting for every node to see the whole cluster, and every replica to sync"
wait_converged "$REDIS_NODES" "$total" "$replicas_expected" "$deadline"
first=$(resolve "${REDIS_NODES%% *}")
check=$(rcli --cluster check "$first" 2>&1 | tr -d '\r') || die "cluster check failed:
$check"
log "cluster formed: $total node(s), $masters master(s) with $REPLICAS replica(s) each, all $TOTAL_SLOTS slots covered"
