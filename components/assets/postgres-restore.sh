#!/bin/sh
# Restores one backup from the backup volume into the running PostgreSQL server, as the superuser: the
# roles it lacks, then every database of the backup, replacing the server's database of the same name. Databases the
# backup does not have are left alone.
#
# Everything is checked before anything changes: the backup's name, its manifest, every file's size
# and SHA-256 sum, every dump readable by this pg_restore, and the versions (the server must run the
# backup's major version or a later one; pg_restore must be at least as new as the pg_dump that wrote
# it). Any problem gives one message and exit 1 with the server untouched.
#
# Each database is replaced without a window of loss: connections to it are closed and refused, it
# is renamed aside, the backup is restored under its name, and only when every database is restored
# are the renamed copies dropped. If a restore fails, the restored databases are dropped and the
# renamed ones get their names back. (Roles the backup created stay: they are only added.) The
# server needs room for both copies while it runs.
#
# Runs in the restore Job that npm run ops -- restore builds from the backup CronJob's pod (the
# postgres image of the server's version, with the superuser's Secret in place of the backup role's),
# and unchanged in the tests.
#
# Usage: postgres-restore.sh <backup name>
# Environment:
#   CONFIRM_RESTORE       must equal the backup's name: the script never overwrites by accident
#   PGHOST, PGPORT, BACKUP_DIR  as for postgres-backup.sh
#   POSTGRES_CREDENTIALS  folder with the superuser's username and password (default /run/secrets/postgres)
set -eu
LOG_TAG=restore
# shellcheck source=postgres-backup-lib.sh
. "$(dirname "$0")/postgres-backup-lib.sh"
# shellcheck source=postgres-client-lib.sh
. "$(dirname "$0")/postgres-client-lib.sh"

name=${1:-}
refuse() {
    die "$*; nothing was changed"
}
is_backup_name "$name" || refuse "\"$name\" is not a backup name (a UTC time such as 20250101T020000Z; npm run ops -- backups lists them)"
[ "${CONFIRM_RESTORE:-}" = "$name" ] || refuse "CONFIRM_RESTORE is not $name: a restore overwrites databases and must be confirmed by name"
dir="$BACKUP_DIR/$name"
if [ ! -d "$dir" ]; then
    available=$(local_backups | tr '\n' ' ' | sed 's/ $//')
    refuse "no backup named $name on the backup volume $BACKUP_DIR (it has: ${available:-none})"
fi
if ! problems=$(verify_backup "$dir"); then
    refuse "backup $name is damaged: $(printf '%s' "$problems" | tr '\n' ';')"
fi
manifest="$dir/manifest"
databases=$(manifest_value "$manifest" databases)
backup_version=$(manifest_value "$manifest" server_version)
backup_version_num=$(manifest_value "$manifest" server_version_num)
dump_version=$(manifest_value "$manifest" pg_dump_version)
major() { printf '%s\n' "$1" | sed 's/\..*//'; }

restore_version=$(tool_version pg_restore)
if [ "$(major "$restore_version")" -lt "$(major "$dump_version")" ]; then
    refuse "backup $name was written by pg_dump $dump_version; this pg_restore is $restore_version and cannot read it (restore with the postgres image $(major "$dump_version") or later)"
fi
for db in $databases; do
    pg_restore --list "$dir/$db.dump" >/dev/null 2>&1 || refuse "backup $name: $db.dump is not an archive this pg_restore $restore_version can read"
done

use_credentials
wait_for_server "${WAIT_SECONDS:-120}"
server_version=$(sql "SHOW server_version" | sed 's/ .*//')
server_version_num=$(sql "SHOW server_version_num")
if [ "$((server_version_num / 10000))" -lt "$((backup_version_num / 10000))" ]; then
    refuse "backup $name was taken from PostgreSQL $backup_version; this server runs $server_version, an older major version: restore it into PostgreSQL $((backup_version_num / 10000)) or later"
fi
log "restoring $name (PostgreSQL $backup_version, databases: $databases) into PostgreSQL $server_version at ${PGHOST:-localhost}:${PGPORT:-5432}"
started=$(date +%s)

# Roles first: the databases' objects name their owners. Only "already exists" is expected. A role
# the server has keeps its attributes (its ALTER ROLE ... WITH line is skipped): a backup taken before
# the roles were split would otherwise make the API's role a superuser again.
existing=$(sql "SELECT quote_ident(rolname) FROM pg_roles")
errors=$(awk -v existing="$existing" '
    BEGIN { n = split(existing, names, "\n"); for (i = 1; i <= n; i++) known[names[i]] = 1 }
    $1 == "ALTER" && $2 == "ROLE" && $4 == "WITH" && ($3 in known) { next }
    { print }' "$dir/globals.sql" |
    psql --no-psqlrc --quiet 2>&1 >/dev/null | grep -i 'error' | grep -v 'already exists' || true)
[ -z "$errors" ] || die "restoring the roles of $name failed, no database was touched: $errors"

# The database to connect to while replacing $1: never $1 itself.
maintenance_db() {
    if [ "$1" = postgres ]; then echo template1; else echo postgres; fi
}
aside_name() {
    echo "pre_restore_$(printf '%s' "$name" | tr 'TZ' 'tz')_$1"
}
exists() {
    [ "$(sql "SELECT count(*) FROM pg_database WHERE datname = '$1'" "$(maintenance_db "$1")")" = 1 ]
}
quoted() {
    printf '"%s"' "$1"
}

# Closes and refuses connections to $1, then renames it to $2 (terminated sessions take a moment to go).
set_aside() {
    maint=$(maintenance_db "$1")
    sql "ALTER DATABASE $(quoted "$1") WITH ALLOW_CONNECTIONS false" "$maint" >/dev/null
    tries=0
    until psql --no-psqlrc --quiet --set ON_ERROR_STOP=1 --dbname "$maint" --command \
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$1' AND pid <> pg_backend_pid()" \
        --command "ALTER DATABASE $(quoted "$1") RENAME TO $(quoted "$2")" >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -ge 30 ]; then
            sql "ALTER DATABASE $(quoted "$1") WITH ALLOW_CONNECTIONS true" "$maint" >/dev/null
            return 1
        fi
        sleep 1
    done
}

# Puts back every database handled so far ($handled: "db:aside-or-dash" words) and stops.
rollback() {
    log "error: $1; putting the databases back as they were"
    for entry in $handled; do
        db=${entry%%:*}
        aside=${entry#*:}
        maint=$(maintenance_db "$db")
        sql "DROP DATABASE IF EXISTS $(quoted "$db") WITH (FORCE)" "$maint" >/dev/null
        if [ "$aside" != "-" ]; then
            sql "ALTER DATABASE $(quoted "$aside") RENAME TO $(quoted "$db")" "$maint" >/dev/null
            sql "ALTER DATABASE $(quoted "$db") WITH ALLOW_CONNECTIONS true" "$maint" >/dev/null
        fi
    done
    die "restoring $name failed: $1; the databases are as they were before"
}

handled=""
index=0
for db in $databases; do
    index=$((index + 1))
    aside="-"
    if exists "$db"; then
        aside=$(aside_name "$index")
        set_aside "$db" "$aside" || rollback "database $db is still in use after 30 s"
    fi
    handled="$handled $db:$aside"
    log "restoring database $db"
    # --create recreates the database as it was dumped (owner, encoding, locale, privileges, settings).
    pg_restore --create --exit-on-error --dbname "$(maintenance_db "$db")" "$dir/$db.dump" ||
        rollback "pg_restore of database $db failed (its message is above)"
done

for entry in $handled; do
    db=${entry%%:*}
    aside=${entry#*:}
    if [ "$aside" != "-" ]; then
        sql "DROP DATABASE $(quoted "$aside")" "$(maintenance_db "$db")" >/dev/null
    fi
    # Planner statistics are not part of a dump: without them the first queries plan blind.
    vacuumdb --analyze-only --quiet --dbname "$db" || log "warning: ANALYZE of $db failed; run it by hand"
done
log "restored $name in $(($(date +%s) - started)) s"
echo "restored $name $databases"
