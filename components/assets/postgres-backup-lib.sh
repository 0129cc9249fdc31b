#!/bin/sh
# Shared by the PostgreSQL backup scripts. POSIX sh: they run in the postgres image (Debian) and in
# the rclone image (Alpine, busybox).
#
# A backup is a folder <UTC time>/ (20250101T020000Z) on the backup volume, or under the bucket's
# prefix, holding globals.sql, one <database>.dump per database and a manifest written last: a
# folder without a manifest is unfinished and never counts as a backup.
#
# Lines a caller (npm run ops) reads go to stdout: "stored", "uploaded", "fetched", "deleted",
# "local", "remote", "restored". Progress and errors go to stderr with a time stamp.

BACKUP_DIR=${BACKUP_DIR:-/backups}
LOG_TAG=${LOG_TAG:-backup}

log() {
    printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$LOG_TAG" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

is_backup_name() {
    printf '%s\n' "$1" | grep -Eqx '[0-9]{8}T[0-9]{6}Z'
}

# require_integer NAME MIN: the variable NAME holds a whole number >= MIN.
require_integer() {
    eval "value=\${$1:-}"
    # shellcheck disable=SC2154 # set by the eval above
    case "$value" in '' | *[!0-9]*) die "$1 = \"$value\" is not a whole number" ;; esac
    [ "$value" -ge "$2" ] || die "$1 = $value is below $2"
}

# A value of a manifest (key=value lines).
manifest_value() {
    sed -n "s/^$2=//p" "$1" | head -n 1
}

# Total bytes of the files a manifest lists.
manifest_bytes() {
    sed -n 's/^file=//p' "$1" | awk '{ total += $2 } END { printf "%d\n", total }'
}

# Checks a backup folder against its manifest: every file listed is there, readable, of the listed
# size and SHA-256 sum. Prints each problem on stdout and returns 1 when there is one.
verify_backup() {
    if [ ! -r "$1/manifest" ] || [ "$(manifest_value "$1/manifest" format)" != "healthcare-postgres-backup/1" ]; then
        echo "it has no readable manifest of format healthcare-postgres-backup/1"
        return 1
    fi
    problems=$(sed -n 's/^file=//p' "$1/manifest" | while read -r file bytes sum; do
        if [ ! -f "$1/$file" ] || [ ! -r "$1/$file" ]; then
            echo "$file is missing or unreadable"
        elif [ "$(stat -c %s "$1/$file")" != "$bytes" ]; then
            echo "$file has $(stat -c %s "$1/$file") bytes where the manifest lists $bytes"
        elif [ "$(sha256sum "$1/$file" | awk '{ print $1 }')" != "$sum" ]; then
            echo "$file does not match the SHA-256 sum in the manifest"
        fi
    done)
    [ -z "$problems" ] || {
        printf '%s\n' "$problems"
        return 1
    }
}

# Complete backups on the volume, oldest first.
local_backups() {
    for dir in "$BACKUP_DIR"/*/; do
        name=$(basename "$dir")
        if is_backup_name "$name" && [ -f "$BACKUP_DIR/$name/manifest" ]; then
            printf '%s\n' "$name"
        fi
    done | sort
}

# Object storage through rclone, configured from the environment only (no config file):
#   S3_ENDPOINT, S3_BUCKET, S3_PREFIX, S3_REGION, and S3_CREDENTIALS, a folder with the files
#   AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the mounted Secret; default /run/secrets/s3).
# Sets $remote (rclone's name for the prefix) and $remote_url (s3://bucket/prefix/).
s3_setup() {
    [ -n "${S3_BUCKET:-}" ] || die "S3_BUCKET is not set: object storage is not configured"
    [ -n "${S3_ENDPOINT:-}" ] || die "S3_ENDPOINT is not set"
    credentials=${S3_CREDENTIALS:-/run/secrets/s3}
    for key in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; do
        [ -r "$credentials/$key" ] || die "$credentials/$key is missing: the Secret named in postgresBackupS3CredentialsSecret needs the key $key"
    done
    RCLONE=${RCLONE:-rclone}
    RCLONE_S3_ACCESS_KEY_ID=$(cat "$credentials/AWS_ACCESS_KEY_ID")
    RCLONE_S3_SECRET_ACCESS_KEY=$(cat "$credentials/AWS_SECRET_ACCESS_KEY")
    # An in-memory configuration, a generic S3 provider, never create the bucket, few retries.
    RCLONE_CONFIG=""
    RCLONE_S3_PROVIDER=Other
    RCLONE_S3_ENDPOINT=$S3_ENDPOINT
    RCLONE_S3_REGION=${S3_REGION:-us-east-1}
    RCLONE_S3_NO_CHECK_BUCKET=true
    RCLONE_RETRIES=${RCLONE_RETRIES:-3}
    RCLONE_LOW_LEVEL_RETRIES=${RCLONE_LOW_LEVEL_RETRIES:-5}
    export RCLONE_S3_ACCESS_KEY_ID RCLONE_S3_SECRET_ACCESS_KEY RCLONE_CONFIG RCLONE_S3_PROVIDER RCLONE_S3_ENDPOINT \
        RCLONE_S3_REGION RCLONE_S3_NO_CHECK_BUCKET RCLONE_RETRIES RCLONE_LOW_LEVEL_RETRIES
    prefix=$(printf '%s' "${S3_PREFIX:-}" | sed 's:^/*::; s:/*$::')
    remote=":s3:$S3_BUCKET${prefix:+/$prefix}"
    remote_url="s3://$S3_BUCKET/${prefix:+$prefix/}"
}

# Every backup folder under the prefix as "<name> <bytes> <complete: 1 or 0>", oldest first. Fails
# (status 1, after a message) when the bucket cannot be listed: call it as folders=$(remote_folders) || exit 1.
remote_folders() {
    listing=$("$RCLONE" lsf -R --files-only --format sp --separator ' ' "$remote") ||
        die "cannot list $remote_url at $S3_ENDPOINT (rclone's message is above)"
    printf '%s\n' "$listing" | awk '
        NF == 2 {
            n = split($2, part, "/")
            if (n != 2 || part[1] !~ /^[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z$/) next
            if (part[2] == "manifest") complete[part[1]] = 1
            else bytes[part[1]] += $1
            seen[part[1]] = 1
        }
        END { for (name in seen) printf "%s %d %d\n", name, bytes[name], (name in complete) }' | sort
}

# The complete backups among remote_folders output (on stdin), oldest first.
complete_names() {
    awk '$3 == 1 { print $1 }'
}
