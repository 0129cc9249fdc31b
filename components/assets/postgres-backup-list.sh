#!/bin/sh
# Lists the complete backups: "local <name> <bytes>" for each on the backup volume and, when object
# storage is configured (S3_BUCKET), "remote <name> <bytes>" for each in the bucket; oldest first.
# npm run ops -- backups turns these lines into a table with ages.
#
# Runs in a Job built from the backup CronJob's pod (the rclone image when object storage is
# configured, else the postgres image), and in the tests.
#
# Environment: BACKUP_DIR, and the S3_* variables of s3_setup (postgres-backup-lib.sh) when S3_BUCKET is set.
set -eu
LOG_TAG=list
# shellcheck source=postgres-backup-lib.sh
. "$(dirname "$0")/postgres-backup-lib.sh"

[ -d "$BACKUP_DIR" ] || die "the backup volume $BACKUP_DIR is not mounted"
for name in $(local_backups); do
    echo "local $name $(manifest_bytes "$BACKUP_DIR/$name/manifest")"
done
if [ -n "${S3_BUCKET:-}" ]; then
    s3_setup
    folders=$(remote_folders) || exit 1
    printf '%s\n' "$folders" | awk '$3 == 1 { print "remote " $1 " " $2 }'
fi
