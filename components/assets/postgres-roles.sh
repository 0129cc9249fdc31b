#!/bin/sh
# Brings PostgreSQL's roles to what the statefulset engine wants, connected as the superuser over TCP:
#
#   superuser (postgres)   SUPERUSER LOGIN; used only by this script and by restores
#   API role               LOGIN, owner of the API's database; NOSUPERUSER NOCREATEDB NOCREATEROLE
#                          NOREPLICATION NOBYPASSRLS, member of no role
#   exporter role          LOGIN, member of pg_monitor only
#   backup role            LOGIN BYPASSRLS (pg_dump refuses tables with row security otherwise), member
#                          of pg_read_all_data only: it reads every table of every database, writes none
#
# each with the password of its own mounted Secret; the API's database exists and belongs to the API
# role; PUBLIC may not create objects in schema public of any database (PostgreSQL 14 and older
# allowed it). Only what differs is changed, and said (stdout, "changed: ..."): a second run changes
# nothing. Passwords never appear in argv, the environment or the server's log: psql reads them from
# the files, and the session stops logging statements first.
#
# A volume initialised before the roles were split has the API role as its bootstrap superuser (OID 10,
# POSTGRES_USER was the API's user), and PostgreSQL 16 and later refuse to take SUPERUSER from the
# bootstrap superuser. So when the superuser cannot log in but the API role can, as a superuser, the
# script migrates in place without ever leaving the server without a working superuser:
#   1. as the API role: a temporary superuser (roles_migration) with the superuser's password;
#   2. as roles_migration, in the API's database, in one transaction: the bootstrap role is renamed
#      to postgres (and keeps SUPERUSER) with the superuser's password, a new API role is created
#      with the API's password, and the API's database and every object of it the bootstrap role
#      owned pass to the new API role; then the sessions opened by the old API role, superuser
#      sessions, are closed;
#   3. as postgres: roles_migration is dropped, and everything else is ensured as on any server.
# A run stopped halfway resumes from where it stopped.
#
# Runs in the PostgreSQL pod's sidecar (the server's own image) with --watch, and unchanged in the tests.
#
# Usage: postgres-roles.sh            apply once; exit 0 when every role is as it should be
#        postgres-roles.sh --watch    apply now and every ROLES_INTERVAL seconds, again after 30 s when a
#                                     run fails; never exits by itself
# Environment:
#   PGHOST, PGPORT          the server (default 127.0.0.1:5432)
#   SUPERUSER_CREDENTIALS, API_CREDENTIALS, EXPORTER_CREDENTIALS, BACKUP_CREDENTIALS
#                           folders holding the files username and password (API_CREDENTIALS also
#                           database: the API's database)
#   WAIT_SECONDS            how long one run waits for the server to accept connections (default 300)
#   ROLES_INTERVAL          seconds between two runs with --watch (default 3600)
set -eu

log() {
    printf '%s roles: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

if [ "${1:-}" = --watch ]; then
    interval=${ROLES_INTERVAL:-3600}
    case "$interval" in '' | *[!0-9]*) die "ROLES_INTERVAL = \"$interval\" is not a number of seconds" ;; esac
    # The pod stops this container last: leave at once.
    trap 'exit 0' TERM INT
    while :; do
        if sh "$0"; then pause=$interval; else pause=30; fi
        sleep "$pause" &
        wait $! || true
    done
fi

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}"
# Loopback inside the pod: the server offers no TLS there. Never wait for a password prompt.
export PGSSLMODE="${PGSSLMODE:-disable}" PGGSSENCMODE="${PGGSSENCMODE:-disable}" PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"
migration_role=roles_migration

# credential FOLDER KEY: the file's content; stops when the Secret is not mounted.
credential() {
    [ -r "$1/$2" ] || die "$1/$2 is missing: a credentials Secret is not mounted"
    cat "$1/$2"
}

# identifier WHAT NAME: names are lower-case SQL identifiers, so they need no quoting in messages.
identifier() {
    printf '%s\n' "$2" | grep -Eqx '[a-z_][a-z0-9_]{0,62}' || die "$1 \"$2\" is not a lower-case SQL identifier"
    case "$2" in pg_*) die "$1 \"$2\": names starting with pg_ are PostgreSQL's" ;; esac
}

superuser_dir=${SUPERUSER_CREDENTIALS:-/run/secrets/superuser}
api_dir=${API_CREDENTIALS:-/run/secrets/api}
exporter_dir=${EXPORTER_CREDENTIALS:-/run/secrets/exporter}
backup_dir=${BACKUP_CREDENTIALS:-/run/secrets/backup}
superuser=$(credential "$superuser_dir" username)
api=$(credential "$api_dir" username)
database=$(credential "$api_dir" database)
exporter=$(credential "$exporter_dir" username)
backup=$(credential "$backup_dir" username)
identifier "the superuser" "$superuser"
identifier "the API role" "$api"
identifier "the API's database" "$database"
identifier "the exporter role" "$exporter"
identifier "the backup role" "$backup"
names=$(printf '%s\n' "$superuser" "$api" "$exporter" "$backup" "$migration_role")
[ "$(printf '%s\n' "$names" | sort -u | wc -l)" -eq 5 ] ||
    die "the superuser, API, exporter and backup roles need names of their own (and none may be $migration_role): $(printf '%s' "$names" | tr '\n' ' ')"

# A password file per role (never argv or the environment), removed on exit.
work=$(mktemp -d "${TMPDIR:-/tmp}/roles.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# passfile FOLDER NAME: $work/NAME, a password file with FOLDER's password (.pgpass escapes ':' and '\').
passfile() {
    (umask 077 && printf '*:*:*:*:%s\n' "$(sed 's/[\\:]/\\&/g' "$1/password")" >"$work/$2")
}
passfile "$superuser_dir" superuser
passfile "$api_dir" api
passfile "$exporter_dir" exporter
passfile "$backup_dir" backup

# psql_as ROLE PASSFILE DATABASE [psql arguments]: psql as that role; SQL from the arguments or stdin.
psql_as() {
    role=$1 passfile=$2 db=$3
    shift 3
    PGPASSFILE=$passfile psql --no-psqlrc --no-align --tuples-only --quiet --set ON_ERROR_STOP=1 \
        --username "$role" --dbname "$db" "$@"
}

# is_superuser ROLE PASSFILE: the role logs in with that password and is a superuser.
is_superuser() {
    [ "$(psql_as "$1" "$2" postgres --command "SELECT rolsuper FROM pg_roles WHERE rolname = current_user" 2>/dev/null)" = t ]
}

# logs_in ROLE PASSFILE: the role logs in with that password (into the API's database).
logs_in() {
    psql_as "$1" "$2" "$database" --command "SELECT 1" >/dev/null 2>&1
}

# Psql variables every admin script gets: the names, and the passwords read from the mounted files by
# psql itself. Statements are not logged in these sessions, not even when one fails.
preamble() {
    cat <<EOF
\\set superuser '$superuser'
\\set api '$api'
\\set exporter '$exporter'
\\set backup '$backup'
\\set database '$database'
\\set migration_role '$migration_role'
\\set superuser_password \`cat '$superuser_dir/password'\`
\\set api_password \`cat '$api_dir/password'\`
\\set exporter_password \`cat '$exporter_dir/password'\`
\\set backup_password \`cat '$backup_dir/password'\`
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
SET log_min_duration_statement = -1;
SET password_encryption = 'scram-sha-256';
EOF
}

# admin DATABASE [psql arguments]: psql as the current admin role; SQL on stdin after the preamble.
admin() {
    db=$1
    shift
    { preamble && cat; } | psql_as "$admin_role" "$admin_passfile" "$db" "$@"
}

# ensure DATABASE: the query on stdin lists the statements (one a line) that bring the server to what
# it should be; they run in one transaction, each one said on stdout. None listed: nothing changes.
changes=0
ensure() {
    statements=$(admin "$1") || die "reading the roles' state in database $1 failed"
    [ -n "$statements" ] || return 0
    printf '%s\n' "$statements" | sed 's/^/changed: /'
    changes=$((changes + $(printf '%s\n' "$statements" | wc -l)))
    { echo "BEGIN;" && printf '%s\n' "$statements" && echo "COMMIT;"; } | admin "$1" >/dev/null ||
        die "the changes above to database $1 failed; none of them was made"
}

wait_for_server() {
    deadline=$(($(date +%s) + ${WAIT_SECONDS:-300}))
    until pg_isready --quiet --username "$superuser" --dbname postgres; do
        [ "$(date +%s)" -lt "$deadline" ] ||
            die "PostgreSQL at $PGHOST:$PGPORT did not accept connections within ${WAIT_SECONDS:-300} s"
        sleep 2
    done
}

wait_for_server

# Who can administer the server: the superuser; or the migration's temporary superuser (a migration
# that stopped halfway); or, on a volume initialised before the roles were split, the API role.
if is_superuser "$superuser" "$work/superuser"; then
    admin_role=$superuser admin_passfile=$work/superuser
elif is_superuser "$migration_role" "$work/superuser"; then
    admin_role=$migration_role admin_passfile=$work/superuser
elif is_superuser "$api" "$work/api"; then
    admin_role=$api admin_passfile=$work/api
else
    die "no superuser logs in: neither $superuser nor $migration_role with the superuser's password, nor $api (the bootstrap superuser of a volume initialised before the roles were split) with the API's; nothing was changed"
fi

version=$(admin postgres <<'EOF'
SELECT current_setting('server_version_num');
EOF
)
[ "$version" -ge 140000 ] || die "PostgreSQL $version is older than 14: the backup role needs pg_read_all_data; nothing was changed"
bootstrap=$(admin postgres <<'EOF'
SELECT rolname FROM pg_authid WHERE oid = 10;
EOF
)

if [ "$bootstrap" = "$api" ]; then
    log "the API role $api is the bootstrap superuser (a volume initialised before the roles were split): migrating"
    if [ "$admin_role" != "$migration_role" ]; then
        admin postgres >/dev/null <<'EOF' || die "creating the temporary superuser $migration_role failed"
SELECT format('CREATE ROLE %I', :'migration_role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'migration_role') \gexec
ALTER ROLE :"migration_role" WITH SUPERUSER LOGIN PASSWORD :'superuser_password';
EOF
        is_superuser "$migration_role" "$work/superuser" || die "the temporary superuser $migration_role does not log in"
        admin_role=$migration_role admin_passfile=$work/superuser
    fi
    swap_in=postgres
    if [ "$(admin postgres <<'EOF'
SELECT count(*) FROM pg_database WHERE datname = :'database';
EOF
)" = 1 ]; then swap_in=$database; fi
    # One transaction in the API's database (so its objects can change hands): all of it or nothing.
    admin "$swap_in" >/dev/null <<'EOF' || die "migrating the bootstrap superuser failed; nothing was changed"
BEGIN;
-- A role already named like the superuser, but not the bootstrap one, steps aside (without its powers).
SELECT format('ALTER ROLE %I RENAME TO %I', rolname, rolname || '_replaced'),
       format('ALTER ROLE %I WITH NOSUPERUSER NOLOGIN', rolname || '_replaced')
  FROM pg_roles WHERE rolname = :'superuser' AND oid <> 10 \gexec
ALTER ROLE :"api" RENAME TO :"superuser";
ALTER ROLE :"superuser" WITH SUPERUSER LOGIN PASSWORD :'superuser_password';
CREATE ROLE :"api" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD :'api_password';
SELECT format('ALTER DATABASE %I OWNER TO %I', datname, :'api') FROM pg_database WHERE datname = :'database' \gexec
-- Objects created after initdb (OID 16384 and up) that the bootstrap role owns, extension members
-- aside; indexes, owned sequences, row types and array types follow their table or type. A
-- multirange type follows its range type on some versions and must be altered itself on others.
SELECT CASE WHEN owned.kind = 'MULTIRANGE'
            THEN format('DO $do$ BEGIN IF (SELECT typowner FROM pg_type WHERE oid = %s) = 10 THEN EXECUTE %L; END IF; END $do$',
                        owned.oid, format('ALTER TYPE %s OWNER TO %I', owned.oid::regtype, :'api'))
            ELSE format('ALTER %s %s OWNER TO %I', owned.kind, (pg_identify_object(owned.catalog, owned.oid, 0)).identity, :'api') END
  FROM (
    SELECT 'pg_namespace'::regclass, oid, 'SCHEMA' FROM pg_namespace
     WHERE nspowner = 10 AND (oid >= 16384 OR nspname = 'public') AND nspname !~ '^pg_'
    UNION ALL
    SELECT 'pg_class'::regclass, c.oid,
           CASE relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                        WHEN 'S' THEN 'SEQUENCE' WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END
      FROM pg_class c
     WHERE relowner = 10 AND c.oid >= 16384 AND relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c') AND relpersistence <> 't'
       AND NOT (relkind = 'S' AND EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                             AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
    UNION ALL
    SELECT 'pg_proc'::regclass, oid, 'ROUTINE' FROM pg_proc WHERE proowner = 10 AND oid >= 16384
    UNION ALL
    SELECT 'pg_type'::regclass, t.oid, CASE typtype WHEN 'd' THEN 'DOMAIN' WHEN 'm' THEN 'MULTIRANGE' ELSE 'TYPE' END FROM pg_type t
     WHERE typowner = 10 AND t.oid >= 16384 AND typrelid = 0 AND typtype IN ('b', 'd', 'e', 'r', 'm')
       AND NOT EXISTS (SELECT FROM pg_type e WHERE e.typarray = t.oid)
    UNION ALL
    SELECT 'pg_collation'::regclass, oid, 'COLLATION' FROM pg_collation WHERE collowner = 10 AND oid >= 16384
    UNION ALL
    SELECT 'pg_conversion'::regclass, oid, 'CONVERSION' FROM pg_conversion WHERE conowner = 10 AND oid >= 16384
    UNION ALL
    SELECT 'pg_operator'::regclass, oid, 'OPERATOR' FROM pg_operator WHERE oprowner = 10 AND oid >= 16384
    UNION ALL
    SELECT 'pg_opclass'::regclass, oid, 'OPERATOR CLASS' FROM pg_opclass WHERE opcowner = 10 AND oid >= 16384
    UNION ALL
    SELECT 'pg_opfamily'::regclass, oid, 'OPERATOR FAMILY' FROM pg_opfamily WHERE opfowner = 10 AND oid >= 16384
    UNION ALL
    SELECT 'pg_ts_config'::regclass, oid, 'TEXT SEARCH CONFIGURATION' FROM pg_ts_config WHERE cfgowner = 10 AND oid >= 16384
    UNION ALL
    SELECT 'pg_ts_dict'::regclass, oid, 'TEXT SEARCH DICTIONARY' FROM pg_ts_dict WHERE dictowner = 10 AND oid >= 16384
    UNION ALL
    SELECT 'pg_statistic_ext'::regclass, oid, 'STATISTICS' FROM pg_statistic_ext WHERE stxowner = 10 AND oid >= 16384
    UNION ALL
    SELECT 'pg_foreign_server'::regclass, oid, 'SERVER' FROM pg_foreign_server WHERE srvowner = 10 AND oid >= 16384
    UNION ALL
    SELECT 'pg_largeobject'::regclass, oid, 'LARGE OBJECT' FROM pg_largeobject_metadata WHERE lomowner = 10 AND oid >= 16384
  ) AS owned (catalog, oid, kind)
 WHERE NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = owned.catalog AND e.objid = owned.oid AND e.deptype = 'e')
   AND current_database() = :'database'
 ORDER BY owned.catalog::oid, owned.oid \gexec
COMMIT;
-- The old API role's sessions are superuser sessions still: close them (the API reconnects as the new role).
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE usesysid = 10 AND backend_type = 'client backend' AND pid <> pg_backend_pid();
EOF
    echo "changed: the bootstrap superuser $api is now $superuser; a new role $api owns database $database and its objects"
    changes=$((changes + 1))
fi

# The superuser: created (or given back its powers and password) by whichever superuser logged in,
# and in use only once it logs in itself. Until then nothing is taken from anyone.
if [ "$admin_role" != "$superuser" ]; then
    admin postgres >/dev/null <<'EOF' || die "ensuring the superuser failed"
SELECT format('CREATE ROLE %I', :'superuser') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'superuser') \gexec
ALTER ROLE :"superuser" WITH SUPERUSER LOGIN PASSWORD :'superuser_password';
EOF
    is_superuser "$superuser" "$work/superuser" || die "the superuser $superuser does not log in after it was set up; nothing was taken from $admin_role"
    echo "changed: the superuser $superuser logs in with its Secret's password"
    changes=$((changes + 1))
    admin_role=$superuser admin_passfile=$work/superuser
fi

# The migration's temporary superuser goes once the superuser logs in.
ensure postgres <<'EOF'
SELECT format('DROP ROLE %I;', rolname) FROM pg_roles WHERE rolname = :'migration_role';
EOF

# The roles and their attributes.
ensure postgres <<'EOF'
WITH wanted (name, attributes) AS (VALUES
    (:'superuser', 'SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS INHERIT LOGIN'),
    (:'api', 'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT LOGIN'),
    (:'exporter', 'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT LOGIN'),
    (:'backup', 'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION BYPASSRLS INHERIT LOGIN'))
SELECT format('CREATE ROLE %I WITH %s;', w.name, w.attributes) FROM wanted w
 WHERE NOT EXISTS (SELECT FROM pg_roles r WHERE r.rolname = w.name)
UNION ALL
SELECT format('ALTER ROLE %I WITH %s;', w.name, w.attributes) FROM wanted w JOIN pg_roles r ON r.rolname = w.name
 WHERE concat_ws(' ',
         CASE WHEN r.rolsuper THEN 'SUPERUSER' ELSE 'NOSUPERUSER' END,
         CASE WHEN r.rolcreatedb THEN 'CREATEDB' ELSE 'NOCREATEDB' END,
         CASE WHEN r.rolcreaterole THEN 'CREATEROLE' ELSE 'NOCREATEROLE' END,
         CASE WHEN r.rolreplication THEN 'REPLICATION' ELSE 'NOREPLICATION' END,
         CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' ELSE 'NOBYPASSRLS' END,
         CASE WHEN r.rolinherit THEN 'INHERIT' ELSE 'NOINHERIT' END,
         CASE WHEN r.rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END) <> w.attributes;
EOF

# The API's database, owned by the API role.
if [ "$(admin postgres <<'EOF'
SELECT count(*) FROM pg_database WHERE datname = :'database';
EOF
)" = 0 ]; then
    echo "changed: CREATE DATABASE $database OWNER $api;"
    changes=$((changes + 1))
    admin postgres >/dev/null <<'EOF' || die "creating database $database failed"
CREATE DATABASE :"database" OWNER :"api";
EOF
fi
ensure postgres <<'EOF'
SELECT format('ALTER DATABASE %I OWNER TO %I;', datname, :'api') FROM pg_database
 WHERE datname = :'database' AND datdba <> (SELECT oid FROM pg_roles WHERE rolname = :'api');
EOF

# Passwords: set only where a role does not log in with its Secret's (a new salt each time would
# change the catalog on every run), and never in a statement the server could log.
# ensure_password ROLE NAME: ROLE is api, exporter or backup (the psql variables and password files), NAME its name.
ensure_password() {
    # A role fenced for a migration (npm run ops -- migrate: CONNECTION LIMIT 0) cannot log in by design.
    if [ "$(admin postgres <<EOF
SELECT rolconnlimit FROM pg_roles WHERE rolname = :'$1';
EOF
)" = 0 ]; then
        echo "not checked: the password of $2 (fenced by CONNECTION LIMIT 0 while a migration copies its data)"
        return 0
    fi
    logs_in "$2" "$work/$1" && return 0
    echo "changed: the password of $2 (it did not log in with its Secret's)"
    changes=$((changes + 1))
    admin postgres >/dev/null <<EOF || die "setting the password of $2 failed"
ALTER ROLE :"$1" WITH PASSWORD :'${1}_password';
EOF
    logs_in "$2" "$work/$1" || die "$2 does not log in with its Secret's password even after setting it"
}
ensure_password api "$api"
ensure_password exporter "$exporter"
ensure_password backup "$backup"

# Memberships: the exporter in pg_monitor, the backup role in pg_read_all_data, and no other for
# them or the API role (a membership in a superuser role is a way back to superuser).
ensure postgres <<'EOF'
WITH wanted (member, granted) AS (VALUES (:'exporter', 'pg_monitor'), (:'backup', 'pg_read_all_data'))
SELECT format('GRANT %I TO %I;', w.granted, w.member) FROM wanted w
 WHERE NOT EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
                    WHERE u.rolname = w.member AND g.rolname = w.granted)
UNION ALL
SELECT format('REVOKE %I FROM %I%s;', g.rolname, u.rolname,
              CASE WHEN current_setting('server_version_num')::int >= 160000 THEN format(' GRANTED BY %I', gr.rolname) ELSE '' END)
  FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
  LEFT JOIN pg_roles gr ON gr.oid = m.grantor
 WHERE u.rolname IN (:'api', :'exporter', :'backup')
   AND NOT EXISTS (SELECT FROM wanted w WHERE w.member = u.rolname AND w.granted = g.rolname);
EOF

# Schema public: nobody but its owner creates objects there, in every database (template1 included,
# so new databases start that way); in the API's database the API role owns it (PostgreSQL 15 and
# later give it to pg_database_owner, which is the API role there).
databases=$(admin postgres <<'EOF'
SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname;
EOF
)
for db in $databases; do
    ensure "$db" <<'EOF'
SELECT 'REVOKE CREATE ON SCHEMA public FROM PUBLIC;' FROM pg_namespace
 WHERE nspname = 'public' AND has_schema_privilege('public', oid, 'CREATE')
UNION ALL
SELECT format('ALTER SCHEMA public OWNER TO %I;', :'api') FROM pg_namespace
 WHERE nspname = 'public' AND current_database() = :'database'
   AND nspowner NOT IN (SELECT oid FROM pg_roles WHERE rolname IN (:'api', 'pg_database_owner'));
EOF
done

leftover=$(admin "$database" <<'EOF'
SELECT count(*) FROM pg_class WHERE relowner = 10 AND oid >= 16384 AND relkind IN ('r', 'p', 'v', 'm', 'f');
EOF
)
[ "$leftover" = 0 ] || log "warning: $leftover tables or views of $database still belong to the superuser $superuser; the API role cannot alter them"

if [ "$changes" -eq 0 ]; then
    log "every role is as it should be: nothing changed"
else
    log "every role is as it should be now ($changes changes)"
fi
