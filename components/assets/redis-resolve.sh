# Name resolution for the Redis pods and Jobs. Sourced, never run on its own.
#
# A name that does not resolve means "does not exist" only while the cluster DNS demonstrably
# answers: a blocked or broken DNS (a NetworkPolicy that misses NodeLocal DNSCache, CoreDNS down)
# must never pass for "no pod exists", or the scale-in Job would drain nothing before the
# StatefulSet shrinks.
#
# Environment:
#   REDIS_DNS_CANARY   a name that resolves in every healthy cluster (kubernetes.default.svc.cluster.local)
#   STANDIN_HOSTS_FILE_FOR_TESTS
#                      TESTS ONLY: a hosts(5) file answered instead of the system resolver, so tests
#                      on loopback can move "pods" to new addresses. Never set in the pods or Jobs.

# The address of host name $1 (first one), or nothing when it does not resolve. $2: 4 or 6 to ask
# for that family only (a node resolves its peers in the family of its own pod IP).
lookup_ip() {
    if [ -n "${STANDIN_HOSTS_FILE_FOR_TESTS:-}" ]; then
        awk -v h="$1" '$1 !~ /^#/ { for (i = 2; i <= NF; i++) if ($i == h) { print $1; exit } }' "$STANDIN_HOSTS_FILE_FOR_TESTS"
        return 0
    fi
    case "${2:-}" in
        4) getent ahostsv4 "$1" 2>/dev/null | awk 'NR == 1 { print $1 }' ;;
        6) getent ahostsv6 "$1" 2>/dev/null | awk 'NR == 1 { print $1 }' ;;
        *) getent hosts "$1" 2>/dev/null | awk 'NR == 1 { print $1 }' ;;
    esac
}

# Succeeds when the cluster DNS answers: the canary name resolves.
dns_answers() {
    [ -n "$(lookup_ip "${REDIS_DNS_CANARY:-kubernetes.default.svc.cluster.local}")" ]
}

# Why names cannot be trusted to tell absence, for error messages.
dns_failure() {
    printf 'the cluster DNS does not answer (%s does not resolve): check the DNS egress of the NetworkPolicies (NodeLocal DNSCache answers on a node-local address) and CoreDNS' \
        "${REDIS_DNS_CANARY:-kubernetes.default.svc.cluster.local}"
}
