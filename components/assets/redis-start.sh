#!/bin/sh
# Starts one Redis Cluster node: the StatefulSet container's command. Before redis-server runs:
#
#  1. It checks nodes.conf, the node's identity and its view of the cluster. A missing or corrupt
#     file is restored from the copy this script saved at the node's previous start (Redis then
#     brings a stale view up to date by config epochs). Without a copy, a node that holds data
#     refuses to start, naming itself: started without its identity it would come up as a stranger
#     claiming the slots of its keys. A node with neither (a new volume) starts empty; the reconcile
#     Job joins it.
#  2. It saves a copy of the valid nodes.conf.
#  3. It refreshes its peers' addresses in nodes.conf from their stable DNS names, as Bitnami's
#     chart does: each peer announces its pod name (cluster-announce-hostname) and resolves as
#     <pod name>.<REDIS_PEER_DOMAIN> through the headless Service. A node only announces its own new
#     IP, so when every pod restarts at once (node pool upgrade, zone outage) and each gets a new IP,
#     nodes that knew only the old addresses would never find each other again. Peers that do not
#     resolve yet keep their address and are left for gossip; no line is added or removed. When the
#     cluster DNS itself does not answer, the node fails (the kubelet retries) rather than start blind.
#  4. It writes the runtime config and execs redis-server. The config's ACL users name their password
#     as #{VARIABLE}: each becomes the SHA-256 of that variable's value (`user ... #<hash>`), so the
#     file holds no user's password; only the replication user's (masterauth) is written as such. The
#     file is in a memory-backed emptyDir and no password is ever in argv, where `ps` shows it. With
#     TLS, it records a checksum of the certificate files redis-server loads (the liveness probe
#     reloads them when they change). The node announces its pod IP, and as its hostname its pod
#     name, its zone ("-" when unknown) and its Kubernetes node (redis-cluster-3.eu-west-1a.node-7):
#     the maintenance scripts read ordinals and both failure domains from it.
#
# Environment:
#   POD_IP, POD_NAME         the pod's IP and name (downward API)
#   REDIS_REPLICATION_PASSWORD  the replication user's password (masterauth)
#   REDIS_<USER>_PASSWORD    the password of each ACL user the config names as #{REDIS_<USER>_PASSWORD}
#   REDIS_TLS, REDIS_TLS_DIR TLS on (1) and the mounted certificate (default /etc/redis/tls)
#   REDIS_PEER_DOMAIN        the headless Service's domain: <service>.<namespace>.svc.cluster.local
#   REDIS_ZONE               the node's zone (the pod's topology.kubernetes.io/zone label); may be empty
#   REDIS_NODE_NAME          the Kubernetes node the pod runs on: a replica never shares its master's, zones or not
#   REDIS_PEER_WAIT_SECONDS  how long to wait for every peer's name to resolve (default 30)
#   REDIS_PORT               the data port every node uses (default 6379)
#   REDIS_DATA_DIR, REDIS_RUN_DIR, REDIS_CONFIG_TEMPLATE
#                            /data, /run/redis, /etc/redis/redis.conf; the tests point them elsewhere
#   REDIS_DNS_CANARY, STANDIN_HOSTS_FILE_FOR_TESTS   see redis-resolve.sh
set -eu
: "${REDIS_REPLICATION_PASSWORD:?}" "${POD_IP:?}" "${POD_NAME:?}" "${REDIS_PEER_DOMAIN:?REDIS_PEER_DOMAIN must name the headless Service domain}"
# shellcheck source=redis-resolve.sh
. "$(dirname "$0")/redis-resolve.sh"

DATA_DIR=${REDIS_DATA_DIR:-/data}
RUN_DIR=${REDIS_RUN_DIR:-/run/redis}
TEMPLATE=${REDIS_CONFIG_TEMPLATE:-/etc/redis/redis.conf}
PORT=${REDIS_PORT:-6379}
WAIT=${REDIS_PEER_WAIT_SECONDS:-30}
nodes_conf=$DATA_DIR/nodes.conf
saved=$DATA_DIR/nodes.conf.saved

log() { printf '[start %s] %s\n' "$POD_NAME" "$*" >&2; }
die() { printf '[start %s] ERROR: %s\n' "$POD_NAME" "$*" >&2; exit 1; }

# Prints what is wrong with the nodes.conf $1, or nothing when it has the shape redis-server loads:
# node lines (<40-hex id> <ip:port@cport[,hostname...]> <flags> <master|-> <ping> <pong> <epoch>
# <link> <slots...>), exactly one of them "myself", and the vars line last (a file cut short lacks it).
nodes_conf_problem() {
    awk '
        function hex40(s) { return length(s) == 40 && s !~ /[^0-9a-f]/ }
        NF == 0 { next }
        { last = $1 }
        $1 == "vars" { vars++; next }
        NF < 8 || !hex40($1) || $2 !~ /:[0-9]+@[0-9]+/ || ($4 != "-" && !hex40($4)) || $8 !~ /^(connected|disconnected)$/ {
            printf "line %d is not a node entry: %s", NR, substr($0, 1, 60)
            bad = 1
            exit
        }
        $3 ~ /(^|,)myself(,|$)/ { myself++ }
        END {
            if (bad) exit
            if (myself != 1) printf "it has %d entries for the node itself, expected 1", myself
            else if (vars != 1 || last != "vars") printf "it does not end with the vars line (cut short?)"
        }' "$1"
}

# The node holds data files: started without its identity it would claim their slots as a new node.
holds_data() {
    [ -s "$DATA_DIR/dump.rdb" ] || [ -s "$DATA_DIR/appendonly.aof" ] ||
        [ -n "$(find "$DATA_DIR/appendonlydir" -type f 2>/dev/null | head -n 1)" ]
}

restore_saved() {
    cp "$saved" "$nodes_conf.tmp"
    mv "$nodes_conf.tmp" "$nodes_conf"
}

# 1. The node's identity.
problem=""
[ -s "$nodes_conf" ] || problem="missing"
[ -n "$problem" ] || problem=$(nodes_conf_problem "$nodes_conf")
if [ -n "$problem" ]; then
    if [ -s "$saved" ] && [ -z "$(nodes_conf_problem "$saved")" ]; then
        if [ "$problem" != missing ]; then
            kept="$nodes_conf.corrupt.$(date +%s)"
            mv "$nodes_conf" "$kept"
            log "$nodes_conf is corrupt ($problem); kept it as $kept"
        else
            log "$nodes_conf is missing"
        fi
        restore_saved
        log "restored nodes.conf from the copy saved at this node's previous start: $POD_NAME rejoins as node $(awk '$3 ~ /myself/ { print $1 }' "$nodes_conf")"
    elif [ "$problem" = missing ] && ! holds_data; then
        log "no nodes.conf and no data: $POD_NAME starts as a new, empty node (the reconcile Job joins it to the cluster)"
    elif [ "$problem" = missing ]; then
        die "$POD_NAME has no $nodes_conf (and no saved copy) but holds data in $DATA_DIR: started like this it would claim the slots of its keys as a new node. Restore nodes.conf, or, when this node's data is disposable (a replica, or a node that never joined), remove $DATA_DIR/appendonlydir and $DATA_DIR/dump.rdb so it starts empty and the reconcile Job joins it"
    else
        die "$POD_NAME cannot start: $nodes_conf is corrupt ($problem) and there is no valid saved copy ($saved). Repair the file, or move it away (with the data files when they are disposable) so the node starts empty and the reconcile Job joins it"
    fi
fi

if [ -s "$nodes_conf" ]; then
    # 2. A copy for the next start.
    cp "$nodes_conf" "$saved.tmp"
    mv "$saved.tmp" "$saved"

    # 3. Peers' addresses from their names: peers are the node lines other than myself that carry a
    #    hostname; the pod name is the hostname's first label (a zone may follow).
    peers=$(awk '$1 != "vars" && NF >= 8 && $3 !~ /(^|,)myself(,|$)/ {
        split($2, part, ","); host = part[2]; sub(/\..*/, "", host); if (host != "") print host }' "$nodes_conf" | sort -u)
    if [ -n "$peers" ]; then
        family=4
        case "$POD_IP" in *:*) family=6 ;; esac
        resolved=$(mktemp "$RUN_DIR/peers.XXXXXX")
        deadline=$(($(date +%s) + WAIT))
        while :; do
            : >"$resolved"
            missing=""
            for peer in $peers; do
                ip=$(lookup_ip "$peer.$REDIS_PEER_DOMAIN" "$family")
                if [ -n "$ip" ]; then printf '%s %s\n' "$peer" "$ip" >>"$resolved"; else missing="$missing $peer"; fi
            done
            if [ -z "$missing" ] || [ "$(date +%s)" -ge "$deadline" ]; then break; fi
            sleep 1
        done
        if [ -n "$missing" ] && ! dns_answers; then
            die "$(dns_failure); $POD_NAME could not look up its peers'$missing addresses and does not start blind"
        fi
        awk -v map="$resolved" -v port="$PORT" '
            BEGIN { while ((getline line < map) > 0) { split(line, pair, " "); ip[pair[1]] = pair[2] } }
            $1 != "vars" && NF >= 8 && $3 !~ /(^|,)myself(,|$)/ {
                comma = index($2, ","); addr = comma ? substr($2, 1, comma - 1) : $2; rest = comma ? substr($2, comma) : ""
                split(rest, part, ","); host = part[2]; sub(/\..*/, "", host)
                if (host in ip) {
                    at = index(addr, "@"); hostport = substr(addr, 1, at - 1); cport = substr(addr, at + 1)
                    match(hostport, /:[0-9]+$/); p = substr(hostport, RSTART + 1)
                    # A peer without an address (noaddr) shows port 0: every node uses the same ports.
                    if (p == 0) p = port
                    if (cport == 0) cport = p + 10000
                    $2 = ip[host] ":" p "@" cport rest
                    # Redis never dials a peer flagged noaddr: with an address from DNS, it has one.
                    sub(/,noaddr/, "", $3)
                }
            }
            { print }' "$nodes_conf" >"$nodes_conf.tmp"
        [ "$(wc -l <"$nodes_conf.tmp")" -eq "$(wc -l <"$nodes_conf")" ] || die "refreshing the peers' addresses would change the number of lines in $nodes_conf; left it as it was"
        changed=$(awk 'NR == FNR { line[FNR] = $0; next } line[FNR] != $0 { n++ } END { print n + 0 }' "$nodes_conf" "$nodes_conf.tmp")
        mv "$nodes_conf.tmp" "$nodes_conf"
        rm -f "$resolved"
        log "peer addresses: $changed of $(printf '%s\n' "$peers" | wc -l | tr -d ' ') changed, from DNS${missing:+; not resolved yet, left for gossip:$missing}"
    fi
fi

# 4. Runtime config and start.
# The failure domains after the pod name: <pod>.<zone or ->.<Kubernetes node>. The Jobs keep a
# replica out of its master's zone where the zones allow it, and off its master's host in any case:
# a cluster whose nodes all carry one zone label still has hosts to tell apart. Redis accepts letters,
# digits, '-' and '.' in a hostname; the zone is one label (no '.'), the node name may have several.
zone=$(printf '%s' "${REDIS_ZONE:-}" | tr -c 'A-Za-z0-9-' '-')
host=$(printf '%s' "${REDIS_NODE_NAME:-}" | tr -c 'A-Za-z0-9.-' '-')
hostname=$POD_NAME
if [ -n "$host" ]; then
    hostname="$POD_NAME.${zone:--}.$host"
elif [ -n "$zone" ]; then
    hostname="$POD_NAME.$zone"
fi
umask 077
# The ACL users' password hashes, in place of their #{VARIABLE} placeholders (variable names only:
# upper-case letters, digits and '_'; a hash is hex, so neither needs quoting in sed).
config=$RUN_DIR/redis.conf.template
cp "$TEMPLATE" "$config"
for variable in $(grep -o '#{[A-Z0-9_]*}' "$TEMPLATE" | tr -d '#{}' | sort -u); do
    eval "value=\${$variable:-}"
    [ -n "$value" ] || die "$variable is not set: the ACL user whose password it is cannot log in"
    hash=$(printf '%s' "$value" | sha256sum | cut -d' ' -f1)
    sed "s/#{$variable}/#$hash/g" "$config" >"$config.tmp"
    mv "$config.tmp" "$config"
done
if [ "${REDIS_TLS:-0}" = 1 ]; then
    tls_dir=${REDIS_TLS_DIR:-/etc/redis/tls}
    cat "$tls_dir/tls.crt" "$tls_dir/tls.key" "$tls_dir/ca.crt" | cksum >"$RUN_DIR/tls.sum" || die "cannot read the TLS certificate in $tls_dir"
fi
{
    cat "$config"
    printf 'masterauth "%s"\n' "$REDIS_REPLICATION_PASSWORD"
    printf 'cluster-announce-ip %s\n' "$POD_IP"
    printf 'cluster-announce-hostname %s\n' "$hostname"
} >"$RUN_DIR/redis.conf"
rm -f "$config"
exec redis-server "$RUN_DIR/redis.conf"
