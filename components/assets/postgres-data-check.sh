#!/bin/sh
# Start-up guard of the PostgreSQL StatefulSet: refuses to let the server start on a data volume
# whose cluster it would not use. The official image runs initdb whenever PGDATA holds no cluster, so
# after a change of postgresVersion to another major version the server would otherwise start empty:
# from 18 on the volume is mounted one level up and PGDATA is <volume>/data, where the images before
# 18 keep it in <volume>/pgdata (components/postgres.ts, dataLayout), and a cluster of another major
# in the expected folder is refused by the server only after the pod has been restarted in a loop.
#
# Passes on an empty volume (the first start: the image runs initdb) and on a cluster of the image's
# major version in the image's folder. Refuses, with exit 1 and one message naming the version on
# the volume, the image's and the way to upgrade, when the volume holds a cluster (a PG_VERSION file)
# of another major in either folder, or one in the other layout's folder while the image's folder has
# none. It only reads: the volume is mounted read-only.
#
# Runs as an init container of the PostgreSQL pod (postgresDataCheckContainer in
# components/postgres-data-check.ts, the server's own image), and unchanged in the tests.
#
# Environment:
#   DATA_VOLUME             where the data volume is mounted (default /volume)
#   EXPECTED_MAJOR          the image's PostgreSQL major version (17)
#   EXPECTED_PGDATA_SUBDIR  the image's data folder in the volume: pgdata (before 18) or data (18 on)
set -eu

upgrade_path="docs/postgres.md#major-version-upgrades"

log() {
    printf '%s data-check: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

volume=${DATA_VOLUME:-/volume}
expected_major=${EXPECTED_MAJOR:-}
subdir=${EXPECTED_PGDATA_SUBDIR:-}
case "$expected_major" in '' | *[!0-9]*) die "EXPECTED_MAJOR = \"$expected_major\" is not a PostgreSQL major version" ;; esac
case "$subdir" in
    pgdata) other=data ;;
    data) other=pgdata ;;
    *) die "EXPECTED_PGDATA_SUBDIR = \"$subdir\" is neither pgdata (PostgreSQL 17 and before) nor data (18 on)" ;;
esac
[ -d "$volume" ] || die "the data volume is not mounted at $volume"

# The major version of the cluster in folder $1 of the volume (PG_VERSION: "17", or "9.6" long ago);
# empty when the folder holds no cluster. Stops when the folder cannot be read.
cluster_version() {
    folder="$volume/$1"
    [ -e "$folder" ] || return 0
    if [ -d "$folder" ] && { [ ! -r "$folder" ] || [ ! -x "$folder" ]; }; then
        die "cannot read $folder (uid $(id -u)) to check which PostgreSQL cluster it holds"
    fi
    [ -e "$folder/PG_VERSION" ] || return 0
    [ -r "$folder/PG_VERSION" ] || die "cannot read $folder/PG_VERSION (uid $(id -u))"
    version=$(head -n 1 "$folder/PG_VERSION" | tr -d '[:space:]')
    [ -n "$version" ] || die "$folder/PG_VERSION is empty: the folder holds a damaged cluster"
    echo "$version"
}

here=$(cluster_version "$subdir")
there=$(cluster_version "$other")
image="this image runs PostgreSQL $expected_major (data in $volume/$subdir)"
# What to do: carry the data over by a backup and a restore into a fresh volume.
how() {
    if [ "$1" = "$expected_major" ]; then
        echo "move the data to this layout first (back up, deploy on a fresh volume, restore: $upgrade_path), or set postgresVersion back; nothing was changed"
    else
        echo "upgrade the data first (back up, deploy PostgreSQL $expected_major on a fresh volume, restore: $upgrade_path), or set postgresVersion back to a $1 release; nothing was changed"
    fi
}

if [ -n "$here" ]; then
    [ "$here" = "$expected_major" ] ||
        die "the data volume holds a PostgreSQL $here cluster in $volume/$subdir and $image, which cannot use it: $(how "$here")"
    if [ -n "$there" ]; then
        log "$volume/$other holds a PostgreSQL $there cluster too, which this server does not use (left from before an upgrade?)"
    fi
    log "PostgreSQL $here cluster in $volume/$subdir: starting"
elif [ -n "$there" ]; then
    die "the data volume holds a PostgreSQL $there cluster in $volume/$other and $image: it would start an empty database beside it; $(how "$there")"
else
    log "no PostgreSQL cluster on the volume yet: the server initialises $volume/$subdir"
fi
