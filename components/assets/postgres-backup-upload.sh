#!/bin/sh
# Copies the backups on the volume to S3-compatible object storage, then keeps BACKUP_RETENTION
# complete backups there. Each of the newest BACKUP_RETENTION local backups missing from the bucket
# is uploaded (so a day the object store was down is caught up the next day), its manifest last:
# an upload cut short leaves a folder without a manifest, which is not a backup and is removed on
# the next successful run. rclone checks each object's MD5 sum against the file it sent.
#
# A failed upload leaves the local backups untouched, trims nothing remote and exits non-zero (the
# Job fails, the missing-backup alert follows).
#
# Runs in the backup CronJob's upload container (the rclone image), after the dump container, and
# unchanged in the tests against a local S3 server (moto).
#
# Environment: BACKUP_DIR, BACKUP_RETENTION, and the S3_* variables of s3_setup (postgres-backup-lib.sh).
set -eu
LOG_TAG=upload
# shellcheck source=postgres-backup-lib.sh
. "$(dirname "$0")/postgres-backup-lib.sh"

require_integer BACKUP_RETENTION 1
s3_setup

folders=$(remote_folders) || exit 1
uploaded_before=$(printf '%s\n' "$folders" | complete_names)
failed=""
for name in $(local_backups | tail -n "$BACKUP_RETENTION"); do
    if printf '%s\n' "$uploaded_before" | grep -qx "$name"; then
        continue
    fi
    log "uploading $name to $remote_url$name/"
    if "$RCLONE" copy --exclude manifest "$BACKUP_DIR/$name" "$remote/$name" &&
        "$RCLONE" copyto "$BACKUP_DIR/$name/manifest" "$remote/$name/manifest"; then
        echo "uploaded $name $remote_url$name/ $(manifest_bytes "$BACKUP_DIR/$name/manifest")"
    else
        log "error: uploading $name to $remote_url failed; the copy on the volume is kept"
        failed="$failed $name"
    fi
done
[ -z "$failed" ] || die "not uploaded:$failed"

# Retention in the bucket: the newest BACKUP_RETENTION complete backups stay; unfinished folders go.
folders=$(remote_folders) || exit 1
complete=$(printf '%s\n' "$folders" | complete_names)
count=$(printf '%s\n' "$complete" | grep -c . || true)
excess=$((count - BACKUP_RETENTION))
expired=""
if [ "$excess" -gt 0 ]; then
    expired=$(printf '%s\n' "$complete" | head -n "$excess")
fi
unfinished=$(printf '%s\n' "$folders" | awk '$3 == 0 { print $1 }')
for name in $expired $unfinished; do
    "$RCLONE" purge "$remote/$name" || die "cannot delete $remote_url$name/"
    log "deleted $remote_url$name/"
    echo "deleted $name $remote_url$name/"
done
