#!/bin/bash
# Free disk in the glidein's work dir against the entry's minimum.
#   GLIDEIN_MIN_DISK_MB (attr; or GlideinWMS's MIN_DISK_GBS), default 500 MB.
# shellcheck source=SCRIPTDIR/../lib/validate.sh
. "${BASH_SOURCE[0]%/*}/../lib/validate.sh"
validate_begin disk

dir=${GLIDEIN_WORK_DIR:-$PWD}
min_mb=$(attr_get GLIDEIN_MIN_DISK_MB)
if [[ -z $min_mb ]]; then
    gbs=$(attr_get MIN_DISK_GBS)
    [[ $gbs =~ ^[0-9]+$ ]] && min_mb=$((gbs * 1024))
fi
to_int "$min_mb" 500
min_mb=$INT

free_kb=""
while read -r _ _ _ avail _; do
    [[ $avail =~ ^[0-9]+$ ]] && free_kb=$avail
done < <(df -Pk "$dir" 2>/dev/null)
[[ -n $free_kb ]] || validate_warn "cannot read free disk space" dir="$dir"
free_mb=$((free_kb / 1024))
if ((free_mb < min_mb)); then
    validate_fail "only ${free_mb} MB free in the work dir, ${min_mb} MB required" \
        dir="$dir" free_mb:="$free_mb" required_mb:="$min_mb"
fi
validate_publish GLIDEIN_DISK_FREE_MB "$free_mb"
validate_pass dir="$dir" free_mb:="$free_mb" required_mb:="$min_mb"
