#!/bin/sh
# Takes one logical backup of the PostgreSQL server into $BACKUP_DIR/<UTC time>/: the roles
# (pg_dumpall --globals-only, without password hashes: the server's Secret keeps the password) and
# every database that accepts connections (pg_dump, custom format, compressed), each dump checked
# readable with pg_restore --list, and a manifest of sizes and SHA-256 sums written last.
#
# The dump goes to <name>.partial/ and is renamed only once complete, so a failed run (server down,
# volume full, killed pod) leaves the previous backups as they were and exits non-zero: the Job fails.
# After a success, complete backups beyond BACKUP_RETENTION are deleted, oldest first; nothing else
# on the volume is touched.
#
# One backup per Job: the manifest names the Job (BACKUP_JOB), and a pod of a Job whose earlier pod
# already stored its backup takes none: it reports that one (the "stored" line) and exits 0, so the
# Job's retry after a failed upload runs the upload again, on the same backup, without a new dump
# (which would also push an older backup out of the retention).
#
# Runs in the backup CronJob's dump container (the postgres image of the server's version, so
# pg_dump matches the server) and, unchanged, in the tests against a local PostgreSQL server.
#
# Environment:
#   PGHOST, PGPORT        the server (libpq reads them)
#   POSTGRES_CREDENTIALS  folder with the backup role's username and password (default /run/secrets/postgres):
#                         a role that reads every database (pg_read_all_data) and writes none
#   BACKUP_DIR            the backup volume (default /backups)
#   BACKUP_RETENTION      complete backups to keep on the volume (>= 1)
#   BACKUP_COMPRESSION    pg_dump's compression level, 0-9 (default 6)
#   WAIT_SECONDS          how long to wait for the server to accept connections (default 120)
#   BACKUP_JOB            the Job this pod belongs to (the pod's batch.kubernetes.io/job-name label);
#                         empty: every run takes a backup
set -eu
LOG_TAG=backup
# shellcheck source=postgres-backup-lib.sh
. "$(dirname "$0")/postgres-backup-lib.sh"
# shellcheck source=postgres-client-lib.sh
. "$(dirname "$0")/postgres-client-lib.sh"

require_integer BACKUP_RETENTION 1
compression=${BACKUP_COMPRESSION:-6}
case "$compression" in [0-9]) ;; *) die "BACKUP_COMPRESSION = \"$compression\" is not a level from 0 to 9" ;; esac
if [ ! -d "$BACKUP_DIR" ] || [ ! -w "$BACKUP_DIR" ]; then die "the backup volume $BACKUP_DIR is missing or not writable"; fi
job=${BACKUP_JOB:-}
if [ -n "$job" ] && ! printf '%s\n' "$job" | grep -Eqx '[A-Za-z0-9][A-Za-z0-9._-]{0,62}'; then
    die "BACKUP_JOB = \"$job\" is not a Job name"
fi

# Deletes the complete backups beyond BACKUP_RETENTION, oldest first.
apply_retention() {
    count=$(local_backups | wc -l)
    excess=$((count - BACKUP_RETENTION))
    if [ "$excess" -gt 0 ]; then
        for old in $(local_backups | head -n "$excess"); do
            rm -rf "${BACKUP_DIR:?}/$old"
            log "deleted $old: more than $BACKUP_RETENTION backups on the volume"
            echo "deleted $old $BACKUP_DIR/$old"
        done
    fi
}

if [ -n "$job" ]; then
    for stored in $(local_backups); do
        if [ "$(manifest_value "$BACKUP_DIR/$stored/manifest" job)" = "$job" ]; then
            log "$stored is the backup of Job $job, stored by an earlier pod of it: no new dump (this pod retries what failed after it)"
            echo "stored $stored $BACKUP_DIR/$stored $(manifest_bytes "$BACKUP_DIR/$stored/manifest")"
            apply_retention
            exit 0
        fi
    done
fi

use_credentials
wait_for_server "${WAIT_SECONDS:-120}"

name=$(date -u +%Y%m%dT%H%M%SZ)
final="$BACKUP_DIR/$name"
partial="$final.partial"
[ ! -e "$final" ] || die "a backup named $name already exists"
# Leftovers of runs that died before finishing (a killed pod) are never backups.
for stale in "$BACKUP_DIR"/*.partial; do
    [ -e "$stale" ] || continue
    log "removing the unfinished $(basename "$stale")"
    rm -rf "$stale"
done
mkdir "$partial"
# Whatever stops this script before the rename takes the unfinished folder with it.
trap 'rm -rf "$partial"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

server_version=$(sql "SHOW server_version" | sed 's/ .*//')
server_version_num=$(sql "SHOW server_version_num")
databases=$(sql "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname")
[ -n "$databases" ] || die "the server lists no database to back up"
for db in $databases; do
    printf '%s\n' "$db" | grep -Eqx '[A-Za-z0-9_][A-Za-z0-9_.-]*' ||
        die "database \"$db\" has a name this backup cannot use as a file name"
done
database_list=$(printf '%s\n' "$databases" | tr '\n' ' ' | sed 's/ $//')
log "backing up $database_list from PostgreSQL $server_version at ${PGHOST:-localhost}:${PGPORT:-5432} into $partial"

started=$(date +%s)
pg_dumpall --globals-only --no-role-passwords --file "$partial/globals.sql" ||
    die "pg_dumpall --globals-only failed"
for db in $databases; do
    pg_dump --format=custom --compress="$compression" --file "$partial/$db.dump" --dbname "$db" ||
        die "pg_dump of database $db failed"
    pg_restore --list "$partial/$db.dump" >/dev/null ||
        die "the dump of database $db is not readable by pg_restore"
    log "dumped $db ($(stat -c %s "$partial/$db.dump") bytes)"
done

{
    echo "format=healthcare-postgres-backup/1"
    echo "name=$name"
    echo "created=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "server_version=$server_version"
    echo "server_version_num=$server_version_num"
    echo "pg_dump_version=$(tool_version pg_dump)"
    echo "databases=$database_list"
    [ -z "$job" ] || echo "job=$job"
    for file in globals.sql $(printf '%s\n' "$databases" | sed 's/$/.dump/'); do
        echo "file=$file $(stat -c %s "$partial/$file") $(sha256sum "$partial/$file" | awk '{ print $1 }')"
    done
} >"$partial/manifest.tmp"
mv "$partial/manifest.tmp" "$partial/manifest"
# On disk before the rename makes it a backup.
sync
mv "$partial" "$final"
sync
trap - EXIT
bytes=$(manifest_bytes "$final/manifest")
log "stored $name: $bytes bytes in $(($(date +%s) - started)) s"
echo "stored $name $final $bytes"
apply_retention
