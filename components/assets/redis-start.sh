#!/bin/sh
# Starts one Redis Cluster node. The password is written to a config file in an emptyDir (never to
# argv, where `ps` shows it); the pod IP is announced so peers and clients follow a rescheduled pod.
set -eu
: "${REDIS_PASSWORD:?}" "${POD_IP:?}"
umask 077
{
    cat /etc/redis/redis.conf
    printf 'requirepass "%s"\nmasterauth "%s"\n' "$REDIS_PASSWORD" "$REDIS_PASSWORD"
    printf 'cluster-announce-ip %s\n' "$POD_IP"
} >/run/redis/redis.conf
exec redis-server /run/redis/redis.conf
