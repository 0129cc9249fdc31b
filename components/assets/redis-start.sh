#!/bin/sh
# Starts one Redis Cluster node. The password is written to a config file in an emptyDir (never to
# argv, where `ps` shows it); the pod IP is announced so peers and clients follow a rescheduled pod,
# and the pod name as the node's hostname, so the maintenance scripts know each node's ordinal.
set -eu
: "${REDIS_PASSWORD:?}" "${POD_IP:?}" "${POD_NAME:?}"
umask 077
{
    cat /etc/redis/redis.conf
    printf 'requirepass "%s"\nmasterauth "%s"\n' "$REDIS_PASSWORD" "$REDIS_PASSWORD"
    printf 'cluster-announce-ip %s\n' "$POD_IP"
    printf 'cluster-announce-hostname %s\n' "$POD_NAME"
} >/run/redis/redis.conf
exec redis-server /run/redis/redis.conf
