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
# Each database is restored under a temporary name (restoring_<backup>_<n>) while the live one goes
# on serving: clients connect by name, so nothing reaches the copy while pg_restore loads it. The
# database's own properties come from the dump as pg_restore --create would bring them (encoding and
# locale at CREATE DATABASE; owner, privileges, comment and ALTER DATABASE ... SET once it has the
# name). Only when every database is loaded and analysed are they swapped in: the live one refuses
# new connections, its sessions are ended and it is renamed aside (pre_restore_<backup>_<n>), the
# copy takes its name and properties, and then every restored database accepts connections again
# and the aside copies are dropped. Clients are refused for the swap alone (seconds), and a write
# lands either in the database the restore replaces or in the restored one, never in a half-loaded
# one. If anything fails, the copies are dropped and the aside databases get their names back and
# accept connections: everything is as it was. (Roles the backup created stay: they are only
# added.) The server needs room for both copies while it runs.
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

# Database-level work runs from template1: never one of the backup's databases (the backup holds no
# template), so it stays reachable while postgres itself is swapped.
control=template1
quoted() {
    printf '"%s"' "$1"
}
# One statement from $control; on an error psql's message goes to stderr and it returns 1 (the
# caller rolls back: unlike sql, it never stops the script half way).
db_sql() {
    psql --no-psqlrc --quiet --set ON_ERROR_STOP=1 --dbname "$control" --command "SET client_min_messages = warning" --command "$1" >/dev/null
}
exists() {
    count=$(psql --no-psqlrc --no-align --tuples-only --quiet --set ON_ERROR_STOP=1 --dbname "$control" \
        --command "SELECT count(*) FROM pg_database WHERE datname = '$1'") || rollback "cannot look up database $1"
    [ "$count" = 1 ]
}
stamp=$(printf '%s' "$name" | tr 'TZ' 'tz')
temp_name() {
    echo "restoring_${stamp}_$1"
}
aside_name() {
    echo "pre_restore_${stamp}_$1"
}

# Refuses new connections to $1, ends its sessions and renames it to $2 (ended sessions take a
# moment to go). Returns 1 after 30 s of sessions that would not go, still refusing connections.
close_and_rename() {
    db_sql "ALTER DATABASE $(quoted "$1") WITH ALLOW_CONNECTIONS false" || return 1
    tries=0
    until psql --no-psqlrc --quiet --set ON_ERROR_STOP=1 --dbname "$control" --command \
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$1' AND pid <> pg_backend_pid()" \
        --command "ALTER DATABASE $(quoted "$1") RENAME TO $(quoted "$2")" >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ "$tries" -lt 30 ] || return 1
        sleep 1
    done
}

# What is done so far, for the rollback: "<db>:<aside>" for each live database renamed aside, and
# each restored database that has taken its name.
asides=""
swapped=""

# Drops every copy, gives the aside databases their names back, lets them accept connections, stops.
rollback() {
    log "error: $1; putting the databases back as they were"
    unrestored=""
    for db in $swapped; do
        db_sql "DROP DATABASE IF EXISTS $(quoted "$db") WITH (FORCE)" || unrestored="$unrestored $db"
    done
    for entry in $asides; do
        db=${entry%%:*}
        aside=${entry#*:}
        if ! db_sql "ALTER DATABASE $(quoted "$aside") RENAME TO $(quoted "$db")" ||
            ! db_sql "ALTER DATABASE $(quoted "$db") WITH ALLOW_CONNECTIONS true"; then
            unrestored="$unrestored $db"
        fi
    done
    index=0
    for db in $databases; do
        index=$((index + 1))
        db_sql "DROP DATABASE IF EXISTS $(quoted "$(temp_name "$index")") WITH (FORCE)" ||
            log "warning: the copy $(temp_name "$index") is left; drop it by hand"
    done
    [ -z "$unrestored" ] ||
        die "restoring $name failed: $1; putting back failed for:$unrestored (the live data is in the pre_restore_${stamp}_* databases; see the messages above)"
    die "restoring $name failed: $1; the databases are as they were before"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/restore.XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. Each database under its temporary name, the live ones untouched.
index=0
for db in $databases; do
    index=$((index + 1))
    temp=$(temp_name "$index")
    dump="$dir/$db.dump"
    # The entries only --create restores are the database's own: its CREATE DATABASE (encoding,
    # locale) and owner, comment, privileges and settings. As SQL, split in two: the CREATE DATABASE
    # line for the temporary name (the options after WITH name no database), and the rest unchanged
    # for when the copy has the database's name (without pg_restore's \connect lines: it runs from
    # $control, and the database refuses connections then).
    pg_restore --create --list --file "$work/all.toc" "$dump" || rollback "pg_restore --list of $db.dump failed"
    pg_restore --list --file "$work/content.toc" "$dump" || rollback "pg_restore --list of $db.dump failed"
    sed '/^;/d' "$work/all.toc" >"$work/all.list"
    sed '/^;/d' "$work/content.toc" >"$work/content.list"
    grep -vxF -f "$work/content.list" "$work/all.list" >"$work/database.list" || true
    pg_restore --create --use-list "$work/database.list" --file "$work/$index.sql" "$dump" ||
        rollback "pg_restore could not write the database properties of $db"
    [ "$(grep -c '^CREATE DATABASE ' "$work/$index.sql")" = 1 ] || rollback "$db.dump does not hold one CREATE DATABASE for $db"
    create=$(sed -n "s/^CREATE DATABASE [^ ]* WITH /CREATE DATABASE $(quoted "$temp") WITH /p" "$work/$index.sql")
    [ -n "$create" ] || rollback "the CREATE DATABASE of $db.dump has no WITH options"
    grep -v -e '^CREATE DATABASE ' -e '^\\connect ' "$work/$index.sql" >"$work/$index.properties.sql" || true

    log "restoring database $db as $temp"
    # Left by a restore of this backup that was killed: never a live database.
    db_sql "DROP DATABASE IF EXISTS $(quoted "$temp") WITH (FORCE)" || rollback "cannot drop the leftover $temp"
    db_sql "$create" || rollback "cannot create $temp for database $db"
    pg_restore --exit-on-error --dbname "$temp" "$dump" ||
        rollback "pg_restore of database $db failed (its message is above)"
    # Planner statistics are not part of a dump: without them the first queries plan blind.
    vacuumdb --analyze-only --quiet --dbname "$temp" || log "warning: ANALYZE of $db failed; run it by hand"
done

# 2. The swap: each live database aside, its restored copy in its place with its properties, all
# still refusing connections.
closed=$(date +%s)
index=0
for db in $databases; do
    index=$((index + 1))
    temp=$(temp_name "$index")
    if exists "$db"; then
        aside=$(aside_name "$index")
        if ! close_and_rename "$db" "$aside"; then
            db_sql "ALTER DATABASE $(quoted "$db") WITH ALLOW_CONNECTIONS true" || true
            rollback "database $db is still in use after 30 s"
        fi
        asides="$asides $db:$aside"
    fi
    close_and_rename "$temp" "$db" || rollback "the restored copy of $db could not take its name"
    swapped="$swapped $db"
    psql --no-psqlrc --quiet --set ON_ERROR_STOP=1 --dbname "$control" --file "$work/$index.properties.sql" >/dev/null ||
        rollback "restoring the owner, privileges or settings of database $db failed (psql's message is above)"
done

# 3. Open: every restored database accepts connections; the aside copies go.
for db in $databases; do
    db_sql "ALTER DATABASE $(quoted "$db") WITH ALLOW_CONNECTIONS true" || rollback "cannot let database $db accept connections"
done
log "the databases refused connections for $(($(date +%s) - closed)) s"
for entry in $asides; do
    db_sql "DROP DATABASE $(quoted "${entry#*:}")" || log "warning: cannot drop ${entry#*:}, the database as it was before the restore; drop it by hand"
done
log "restored $name in $(($(date +%s) - started)) s"
echo "restored $name $databases"
