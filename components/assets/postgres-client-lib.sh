#!/bin/sh
# Connecting to PostgreSQL from the backup and restore scripts (postgres image): credentials from the
# server's mounted Secret into a password file (never argv or the environment), a wait for the server,
# and a query helper. Needs log and die (postgres-backup-lib.sh).

# PGUSER and PGPASSFILE from $POSTGRES_CREDENTIALS/{username,password} (default /run/secrets/postgres).
use_credentials() {
    credentials=${POSTGRES_CREDENTIALS:-/run/secrets/postgres}
    for key in username password; do
        [ -r "$credentials/$key" ] || die "$credentials/$key is missing: the PostgreSQL credentials Secret is not mounted"
    done
    PGUSER=$(cat "$credentials/username")
    PGPASSFILE=$(mktemp "${TMPDIR:-/tmp}/pgpass.XXXXXX")
    chmod 600 "$PGPASSFILE"
    # .pgpass escapes ':' and '\' with a backslash.
    printf '*:*:*:*:%s\n' "$(sed 's/[\\:]/\\&/g' "$credentials/password")" >"$PGPASSFILE"
    # Connect to the maintenance database unless told otherwise; never wait for a password prompt.
    PGDATABASE=${PGDATABASE:-postgres}
    PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}
    export PGUSER PGPASSFILE PGDATABASE PGCONNECT_TIMEOUT
}

# Waits up to $1 seconds for the server to accept connections (a backup at 02:00 may meet a restart).
wait_for_server() {
    deadline=$(($(date +%s) + $1))
    until pg_isready --quiet; do
        [ "$(date +%s)" -lt "$deadline" ] ||
            die "PostgreSQL at ${PGHOST:-localhost}:${PGPORT:-5432} did not accept connections within $1 s"
        sleep 2
    done
}

# One query's rows, unaligned, without headers; stops the script on an error.
sql() {
    psql --no-psqlrc --no-align --tuples-only --quiet --set ON_ERROR_STOP=1 --command "$1" ${2:+--dbname "$2"} ||
        die "query failed: $1"
}

# The version of a PostgreSQL client tool (15.14 from "pg_dump (PostgreSQL) 15.14 (Debian ...)").
tool_version() {
    "$1" --version | sed -n 's/^[a-z_]* (PostgreSQL) \([0-9][0-9.]*\).*/\1/p'
}
