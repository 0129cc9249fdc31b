# redis-cli as this pod's or Job's Redis user, over TLS when the cluster serves TLS only: the one way
# every Redis script reaches a node. Sourced, never run on its own.
#
# Environment:
#   REDIS_USER         the ACL user (redis-cli --user); its password comes from REDISCLI_AUTH, which
#                      redis-cli reads itself, so no password ever appears in argv
#   REDISCLI_AUTH      that user's password
#   REDIS_TLS          1: TLS, the node's certificate verified against REDIS_TLS_CA_FILE (redisTls)
#   REDIS_TLS_CA_FILE  the CA certificate (PEM) the nodes' certificate chains to

# redis-cli with the user and TLS options in front of the arguments given.
rcli() {
    if [ "${REDIS_TLS:-0}" = 1 ]; then
        set -- --tls --cacert "${REDIS_TLS_CA_FILE:?REDIS_TLS_CA_FILE must name the CA certificate when REDIS_TLS=1}" "$@"
    fi
    if [ -n "${REDIS_USER:-}" ]; then
        set -- --user "$REDIS_USER" "$@"
    fi
    redis-cli "$@"
}
