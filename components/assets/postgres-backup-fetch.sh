#!/bin/sh
# Brings one backup from object storage onto the backup volume, for a restore when the volume no
# longer has it: copied into <name>.partial/, checked against its manifest (every file, its size and
# SHA-256 sum), then renamed. A backup already on the volume is left as it is.
#
# Runs in the restore Job's fetch container (the rclone image), before the restore container.
#
# Usage: postgres-backup-fetch.sh <backup name>
# Environment: BACKUP_DIR, and the S3_* variables of s3_setup (postgres-backup-lib.sh).
set -eu
LOG_TAG=fetch
# shellcheck source=postgres-backup-lib.sh
. "$(dirname "$0")/postgres-backup-lib.sh"

name=${1:-}
is_backup_name "$name" || die "\"$name\" is not a backup name (a UTC time such as 20250101T020000Z); nothing was changed"
if [ -f "$BACKUP_DIR/$name/manifest" ]; then
    log "$name is on the volume already"
    exit 0
fi
s3_setup
folders=$(remote_folders) || exit 1
printf '%s\n' "$folders" | complete_names | grep -qx "$name" ||
    die "no complete backup named $name in $remote_url; nothing was changed"

partial="$BACKUP_DIR/$name.partial"
rm -rf "$partial"
trap 'rm -rf "$partial"' EXIT
"$RCLONE" copy "$remote/$name" "$partial" || die "downloading $remote_url$name/ failed; nothing was changed"
if ! problems=$(verify_backup "$partial"); then
    die "$remote_url$name/ is damaged: $(printf '%s' "$problems" | tr '\n' ';'); nothing was changed"
fi
mv "$partial" "$BACKUP_DIR/$name"
trap - EXIT
echo "fetched $name $remote_url$name/ $BACKUP_DIR/$name"
