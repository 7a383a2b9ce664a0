#!/bin/bash
# Required CVMFS repositories are mounted and readable.
#   GLIDEIN_CVMFS_REPOS (attr): required repositories, comma or space separated
#   GLIDEIN_CVMFS_OPTIONAL_REPOS (attr): wanted, a warning when missing
#   GLIDEIN_CVMFS_ROOT (env): mount root, default /cvmfs
#   GLIDEIN_CVMFS_TIMEOUT (env): seconds for one listing (autofs), default 30
# Each readable repository is advertised as HAS_CVMFS_<name with . and - as _>.
# shellcheck source=SCRIPTDIR/../lib/validate.sh
. "${BASH_SOURCE[0]%/*}/../lib/validate.sh"
validate_begin cvmfs

root=${GLIDEIN_CVMFS_ROOT:-/cvmfs}
timeout=${GLIDEIN_CVMFS_TIMEOUT:-30}
required=$(attr_get GLIDEIN_CVMFS_REPOS)
optional=$(attr_get GLIDEIN_CVMFS_OPTIONAL_REPOS)
[[ -n $required$optional ]] || validate_skip "no CVMFS repository requested"

# check_repo REPO: readable and not empty (an unmounted autofs dir lists empty);
# the listing may hang on a sick mount, hence the timeout.
check_repo() {
    [[ -d $root/$1 ]] || return 1
    # shellcheck disable=SC2016  # $1 is expanded by the inner bash
    run_with_timeout "$timeout" bash -c '[[ -n $(ls -A "$1" 2>/dev/null) ]]' _ "$root/$1"
}

missing=()
ok=()
for repo in ${required//,/ }; do
    if check_repo "$repo"; then ok+=("$repo"); else missing+=("$repo"); fi
done
missing_optional=()
for repo in ${optional//,/ }; do
    if check_repo "$repo"; then ok+=("$repo"); else missing_optional+=("$repo"); fi
done
for repo in "${ok[@]}"; do
    name=${repo//[.-]/_}
    validate_publish "HAS_CVMFS_$name" true
done
ok_list=$(IFS=,; printf '%s' "${ok[*]}")
if ((${#missing[@]})); then
    validate_fail "required CVMFS repositories not available: $(IFS=,; printf '%s' "${missing[*]}")" \
        root="$root" missing="$(IFS=,; printf '%s' "${missing[*]}")" available="$ok_list"
fi
if ((${#missing_optional[@]})); then
    validate_warn "optional CVMFS repositories not available: $(IFS=,; printf '%s' "${missing_optional[*]}")" \
        root="$root" available="$ok_list"
fi
validate_pass root="$root" available="$ok_list"
