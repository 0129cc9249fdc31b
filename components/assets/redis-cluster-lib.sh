# Functions shared by the Redis Cluster maintenance scripts (reconcile, scale-in). Sourced, never
# run on its own. Every node announces its pod name, followed by its zone ("-" when the pod does not
# know it) and its Kubernetes node (cluster-announce-hostname redis-cluster-3.eu-west-1a.node-7 or
# redis-cluster-3.-.node-7, see redis-start.sh), so CLUSTER NODES tells each node's StatefulSet
# ordinal, zone and host: the ordinal, not an IP address, says which nodes stay and which leave; the
# zone and the host keep a replica away from its master.
#
# Environment:
#   REDIS_USER, REDISCLI_AUTH, REDIS_TLS, REDIS_TLS_CA_FILE   see redis-client.sh (the maintenance user)
#   REDIS_DNS_CANARY, STANDIN_HOSTS_FILE_FOR_TESTS   see redis-resolve.sh

LOG_TAG=${LOG_TAG:-redis-cluster}
# How long a wait sleeps between checks: a Job checks each second; tests of the scripts, which start
# real nodes on loopback, check more often (POLL_SECONDS=0.1) so that they do not idle.
POLL_SECONDS=${POLL_SECONDS:-1}
pause() { sleep "$POLL_SECONDS"; }
log() { printf '[%s] %s\n' "$LOG_TAG" "$*"; }
die() { printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2; exit 1; }

# shellcheck source=redis-resolve.sh
. "$(dirname "$0")/redis-resolve.sh"
# shellcheck source=redis-client.sh
. "$(dirname "$0")/redis-client.sh"

# Slots Redis Cluster distributes; rebalancing leaves each master within this share (%) of its part.
# shellcheck disable=SC2034 # used by the scripts that source this file
TOTAL_SLOTS=16384
BALANCE_THRESHOLD=2

# Reads the desired topology from the environment (REDIS_NODES, REDIS_REPLICAS, WAIT_SECONDS) and
# sets total, masters, REPLICAS and WAIT_SECONDS; fails before touching any node when the nodes
# cannot form a cluster (1 node, or masters x (1 + replicas) with at least 3 masters).
read_desired_topology() {
    : "${REDIS_NODES:?REDIS_NODES must list the desired nodes as host:port, in StatefulSet ordinal order}"
    REPLICAS="${REDIS_REPLICAS:-0}"
    WAIT_SECONDS="${WAIT_SECONDS:-300}"
    total=0
    for _node in $REDIS_NODES; do total=$((total + 1)); done
    if [ "$total" -ne 1 ] && { [ $((total % (REPLICAS + 1))) -ne 0 ] || [ $((total / (REPLICAS + 1))) -lt 3 ]; }; then
        die "$total nodes with $REPLICAS replicas per master cannot form a cluster: use 1 node, or masters x $((REPLICAS + 1)) nodes with at least 3 masters"
    fi
    # shellcheck disable=SC2034 # used by the scripts that source this file
    masters=$((total / (REPLICAS + 1)))
}

host_of() { printf '%s' "${1%:*}"; }
port_of() { printf '%s' "${1##*:}"; }
cli() { _node=$1; shift; rcli -h "$(host_of "$_node")" -p "$(port_of "$_node")" "$@" 2>&1 | tr -d '\r'; }
cluster_info() { cli "$1" CLUSTER INFO | sed -n "s/^$2://p"; }
info_field() { cli "$1" INFO "$2" | sed -n "s/^$3://p"; }

is_ip() { case "$(host_of "$1")" in *[!0-9.]*) return 1 ;; *) return 0 ;; esac; }

# Sets _ip to the address of node $1 (host:port), or to nothing when its name does not resolve: the
# pod does not exist. Dies when the cluster DNS does not answer at all, since "cannot resolve" must
# never pass for "does not exist". Call it directly, not in $(...): a die there would only end the subshell.
lookup() {
    _ip=$(lookup_ip "$(host_of "$1")")
    [ -n "$_ip" ] || dns_answers || die "cannot resolve $(host_of "$1"): $(dns_failure)"
}

# CLUSTER MEET and redis-cli --cluster take IP addresses only: resolve pod DNS names first. Prints
# ip:port; use it only in plain assignments (addr=$(resolve ...)), so that set -e ends the script when it fails.
resolve() {
    if is_ip "$1"; then
        printf '%s' "$1"
        return
    fi
    lookup "$1"
    [ -n "$_ip" ] || die "cannot resolve $(host_of "$1"): no such pod"
    printf '%s:%s' "$_ip" "$(port_of "$1")"
}

# Waits until a node answers PING; fails at once on a wrong password. $1 node, $2 deadline (epoch s).
wait_ping() {
    while :; do
        _reply=$(cli "$1" PING || true)
        case "$_reply" in
            PONG) return 0 ;;
            *WRONGPASS* | *NOAUTH* | *"invalid password"* | *NOPERM*) die "node $1 refused the user ${REDIS_USER:-default} or its password: $_reply" ;;
        esac
        [ "$(date +%s)" -lt "$2" ] || die "node $1 did not answer PING within ${WAIT_SECONDS}s (last reply: ${_reply:-none})"
        pause
    done
}

# The maintenance lock: one run at a time among the deployment's Jobs (scale-in, reconcile) and the
# periodic reconcile (CronJob), which would otherwise move slots against each other. The Jobs have
# no Kubernetes API access, so the lock is a key in the cluster itself: SET NX with a TTL longer than
# a Job may run (so a killed holder cannot block for good), deleted on exit by its holder only.
LOCK_KEY='{healthcare-redis-maintenance}:lock'
LOCK_TTL_SECONDS=${LOCK_TTL_SECONDS:-3900}
lock_holder="$LOG_TAG-$(hostname 2>/dev/null || echo node)-$$"
lock_node=""
# redis-cli -c (following MOVED/ASK to the key's master) against node $1.
cli_cluster() { _node=$1; shift; rcli -c -h "$(host_of "$_node")" -p "$(port_of "$_node")" "$@" 2>&1 | tr -d '\r'; }
release_lock() {
    [ -n "$lock_node" ] || return 0
    cli_cluster "$lock_node" EVAL "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0" 1 "$LOCK_KEY" "$lock_holder" >/dev/null || true
    lock_node=""
}
# Takes the lock through node $1 (a node of the formed cluster). $2: a deadline (epoch s) to wait
# until, or "skip" to give up at once: the periodic reconcile then exits 0 and leaves the cluster to
# the run that holds the lock.
take_lock() {
    while :; do
        _reply=$(cli_cluster "$1" SET "$LOCK_KEY" "$lock_holder" NX EX "$LOCK_TTL_SECONDS")
        if [ "$_reply" = OK ]; then
            lock_node=$1
            trap release_lock EXIT
            trap 'release_lock; exit 1' INT TERM
            return 0
        fi
        # SET NX answers nil (an empty line) when the key exists; anything else is an error (a
        # failover under way, a full node): not a holder, but no lock either.
        if [ -z "$_reply" ]; then
            _why="another maintenance run holds the lock ($(cli_cluster "$1" GET "$LOCK_KEY"))"
        else
            _why="the maintenance lock could not be taken ($_reply)"
        fi
        if [ "$2" = skip ]; then
            log "$_why: leaving the cluster to it"
            exit 0
        fi
        [ "$(date +%s)" -lt "$2" ] || die "$_why, still after ${WAIT_SECONDS}s"
        pause
    done
}

# The cluster as node $1 sees it, one line per node, sorted by ordinal:
#   <id> <ip:port> <ordinal or -> <master|replica|other> <master id or -> <slots> <flags> <domain> <host>
# The announced hostname is <pod name>[.<zone or ->[.<Kubernetes node>]]; the ordinal is the pod
# name's trailing number (redis-cluster-3.eu-west-1a.node-7 -> 3, zone eu-west-1a, host node-7).
# <domain> is the zone, or the host where the zone is unknown (the failure domain the zone rules
# use: replicas away from their masters, masters spread); <host> is the host, or - when unknown.
topology() {
    cli "$1" CLUSTER NODES | awk '
        NF >= 8 {
            addr = $2; host = ""
            i = index(addr, ","); if (i > 0) { host = substr(addr, i + 1); addr = substr(addr, 1, i - 1) }
            j = index(addr, "@"); if (j > 0) addr = substr(addr, 1, j - 1)
            zone = "-"; node = "-"; pod = host
            d = index(host, ".")
            if (d > 0) {
                rest = substr(host, d + 1); pod = substr(host, 1, d - 1)
                e = index(rest, "."); if (e > 0) { zone = substr(rest, 1, e - 1); node = substr(rest, e + 1) } else zone = rest
            }
            if (zone == "") zone = "-"
            if (node == "") node = "-"
            if (zone == "-") zone = node
            ordinal = "-"; if (match(pod, /-[0-9]+$/)) ordinal = substr(pod, RSTART + 1)
            role = "other"; if ($3 ~ /master/) role = "master"; else if ($3 ~ /slave/) role = "replica"
            slots = 0
            for (k = 9; k <= NF; k++) {
                if ($k ~ /^\[/) continue
                n = split($k, range, "-")
                slots += (n == 2) ? range[2] - range[1] + 1 : 1
            }
            print $1, addr, ordinal, role, $4, slots, $3, zone, node
        }' | sort -k3,3n
}

# Prints the addresses of the nodes that node $1 knows without a pod name, after waiting until
# $2 (epoch s) for them to appear: a restarted node's name reaches the others by gossip, within seconds.
unnamed_nodes() {
    while :; do
        _unnamed=$(topology "$1" | awk '$3 == "-" { printf " %s", $2 }')
        if [ -z "$_unnamed" ] || [ "$(date +%s)" -ge "$2" ]; then
            printf '%s' "$_unnamed"
            return
        fi
        pause
    done
}

# Field helpers over a topology ($1) for one node id ($2).
node_field() { printf '%s\n' "$1" | awk -v id="$2" -v f="$3" '$1 == id { print $f }'; }
node_address() { node_field "$1" "$2" 2; }
node_ordinal() { node_field "$1" "$2" 3; }
node_zone() { node_field "$1" "$2" 8; }
node_host() { node_field "$1" "$2" 9; }
# Ids of the replicas of master $2.
replicas_of() { printf '%s\n' "$1" | awk -v id="$2" '$4 == "replica" && $5 == id { print $1 }'; }

# Prints what redis-cli --cluster check finds wrong with the cluster seen from $1, or nothing when
# it is healthy (every slot covered, none half-migrated, all nodes agreeing). Open slots are only
# warnings to its exit status, so its report is read.
cluster_problems() {
    _report=$(rcli --cluster check "$1" 2>&1 | tr -d '\r') || { printf '%s\n' "$_report"; return; }
    printf '%s\n' "$_report" | grep -E '^\[(ERR|WARNING)\]' || true
}

# Fails unless the cluster seen from $1 is healthy; first finishes a slot migration that an
# interrupted run left half-done (open slots), as redis-cli --cluster fix does.
require_healthy() {
    _problems=$(cluster_problems "$1")
    [ -n "$_problems" ] || return 0
    case "$_problems" in
        *"slots are open"* | *"migrating state"* | *"importing state"*)
            log "a slot migration was interrupted: finishing it (redis-cli --cluster fix)"
            rcli --cluster fix "$1" --cluster-yes >/dev/null 2>&1 || true
            _problems=$(cluster_problems "$1")
            [ -n "$_problems" ] || return 0
            ;;
    esac
    die "the cluster is not healthy; nothing was changed:
$_problems"
}

# Waits until every node in the space-separated list $1 knows the same $2 nodes (none still in
# handshake) and reports cluster_state ok. Slot moves need it: redis-cli tells every master the new
# owner of each slot, and a node that has not yet heard of a new master (gossip takes a moment) or
# has not yet learnt the slot map (CLUSTERDOWN) refuses. $3 deadline (epoch s).
wait_agreement() {
    for _node in $1; do
        until [ "$(cluster_info "$_node" cluster_known_nodes)" = "$2" ] && [ "$(cluster_info "$_node" cluster_state)" = ok ] &&
            ! cli "$_node" CLUSTER NODES | grep -q handshake; do
            [ "$(date +%s)" -lt "$3" ] || die "node $_node did not agree on $2 nodes with state ok within ${WAIT_SECONDS}s"
            pause
        done
    done
}

# Waits until every node in the space-separated list $1 sees $2 nodes, $3 of them replicas, state ok,
# and every replica has synced with its master. $4 deadline (epoch s).
wait_converged() {
    for _node in $1; do
        until [ "$(cluster_info "$_node" cluster_state)" = ok ] && [ "$(cluster_info "$_node" cluster_known_nodes)" = "$2" ] &&
            [ "$(cli "$_node" CLUSTER NODES | awk '$3 ~ /slave/' | wc -l | tr -d ' ')" = "$3" ]; do
            [ "$(date +%s)" -lt "$4" ] || die "node $_node did not see $2 nodes with $3 replicas and state ok within ${WAIT_SECONDS}s"
            pause
        done
        if [ "$(info_field "$_node" replication role)" = slave ]; then
            until [ "$(info_field "$_node" replication master_link_status)" = up ]; do
                [ "$(date +%s)" -lt "$4" ] || die "replica $_node did not sync with its master within ${WAIT_SECONDS}s"
                pause
            done
        fi
    done
}

# Promotes replica $1 (address; id $2) over its master with CLUSTER FAILOVER (the master hands over,
# no key moves), and waits until node $3 (address) sees it hold slots. A replica still syncing (just
# attached to this master) cannot take over: it waits for the link first, and asks again when a
# manual failover timed out (Redis gives one a few seconds). $4 deadline (epoch s).
fail_over() {
    until [ "$(info_field "$1" replication master_link_status)" = up ]; do
        [ "$(date +%s)" -lt "$4" ] || die "replica $1 did not sync with its master within ${WAIT_SECONDS}s"
        pause
    done
    while :; do
        _reply=$(cli "$1" CLUSTER FAILOVER)
        [ "$_reply" = OK ] || die "CLUSTER FAILOVER on $1 failed: $_reply"
        _retry=$(($(date +%s) + 15))
        until [ "$(info_field "$1" replication role)" = master ] && [ "$(node_field "$(topology "$3")" "$2" 6)" -gt 0 ]; do
            [ "$(date +%s)" -lt "$4" ] || die "replica $1 did not take over within ${WAIT_SECONDS}s"
            [ "$(date +%s)" -lt "$_retry" ] || continue 2
            pause
        done
        return 0
    done
}

# Moves slots with redis-cli --cluster rebalance from seed $1; further arguments are passed on
# (--cluster-weight <id>=0 drains a master, --cluster-use-empty-masters fills new ones).
rebalance() {
    _seed=$1
    shift
    rcli --cluster rebalance "$_seed" --cluster-threshold "$BALANCE_THRESHOLD" --cluster-pipeline 100 --cluster-timeout 60000 "$@" ||
        die "redis-cli --cluster rebalance failed; the next run finishes any slot it left half-moved"
}

# Makes node $1 (address) a replica of master id $2, and waits until it says so and, when $3 (an
# address) is given, until node $3 sees it so too: the next decision reads the cluster from there.
make_replica() {
    _reply=$(cli "$1" CLUSTER REPLICATE "$2")
    [ "$_reply" = OK ] || die "CLUSTER REPLICATE $2 on $1 failed: $_reply"
    _id=$(cli "$1" CLUSTER MYID)
    _until=$(($(date +%s) + 30))
    until [ "$(info_field "$1" replication role)" = slave ] &&
        [ "$(cli "$1" CLUSTER NODES | awk '$3 ~ /myself/ { print $4 }')" = "$2" ] &&
        { [ -z "${3:-}" ] || [ "$(node_field "$(topology "$3")" "$_id" 5)" = "$2" ]; }; do
        [ "$(date +%s)" -lt "$_until" ] || die "node $1 did not become a replica of $2"
        sleep 0.2
    done
}
