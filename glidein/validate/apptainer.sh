#!/bin/bash
# Apptainer (or Singularity): present, unprivileged user namespaces available, and
# able to run the configured image.
#   GLIDEIN_Singularity_Use (attr, GlideinWMS values): REQUIRED fails the glidein when
#     apptainer cannot run; PREFERRED/OPTIONAL (default) only warn; NEVER and
#     DISABLE_GWMS skip the check
#   GLIDEIN_APPTAINER_IMAGE (attr): image to test with `apptainer exec IMAGE true`
#   GLIDEIN_APPTAINER_BIN (env or attr): the binary; default apptainer, then singularity
#     on PATH, then the OSG CVMFS build
#   GLIDEIN_PROC_ROOT (env, tests): where sys/user/max_user_namespaces is read
# Advertises HAS_SINGULARITY, HAS_APPTAINER, SINGULARITY_PATH, SINGULARITY_VERSION.
# shellcheck source=SCRIPTDIR/../lib/validate.sh
. "${BASH_SOURCE[0]%/*}/../lib/validate.sh"
validate_begin apptainer

mode=$(attr_get GLIDEIN_Singularity_Use OPTIONAL)
mode=${mode^^}
case $mode in
    NEVER | DISABLE_GWMS) validate_skip "apptainer not wanted ($mode)" mode="$mode" ;;
esac

# not_usable REASON [fields]: fail when required, else warn; advertise the absence.
not_usable() {
    validate_publish HAS_SINGULARITY false
    validate_publish HAS_APPTAINER false
    if [[ $mode == REQUIRED ]]; then
        validate_fail "$@" mode="$mode"
    fi
    validate_warn "$@" mode="$mode"
}

bin=${GLIDEIN_APPTAINER_BIN:-$(attr_get GLIDEIN_APPTAINER_BIN)}
if [[ -z $bin ]]; then
    for candidate in apptainer singularity \
        "${GLIDEIN_CVMFS_ROOT:-/cvmfs}/oasis.opensciencegrid.org/mis/apptainer/bin/apptainer"; do
        if command -v "$candidate" >/dev/null 2>&1; then
            bin=$(command -v "$candidate")
            break
        fi
    done
fi
[[ -n $bin && -x $bin ]] || not_usable "apptainer not found"

userns=""
userns_file="${GLIDEIN_PROC_ROOT:-/proc}/sys/user/max_user_namespaces"
[[ -r $userns_file ]] && read -r userns <"$userns_file"
if [[ $userns =~ ^[0-9]+$ ]] && ((userns == 0)); then
    not_usable "unprivileged user namespaces are disabled (max_user_namespaces=0)" path="$bin"
fi

version=$(run_with_timeout 30 "$bin" --version 2>/dev/null | head -n 1)
[[ -n $version ]] || not_usable "apptainer does not run: $bin --version failed" path="$bin"

image=$(attr_get GLIDEIN_APPTAINER_IMAGE)
if [[ -n $image ]]; then
    out=$(run_with_timeout "${GLIDEIN_APPTAINER_TIMEOUT:-120}" \
        "$bin" exec --contain --ipc --pid "$image" /bin/true 2>&1)
    rc=$?
    if ((rc != 0)); then
        not_usable "apptainer cannot run $image (exit $rc): ${out:0:500}" path="$bin" version="$version"
    fi
fi
validate_publish HAS_SINGULARITY true
validate_publish HAS_APPTAINER true
validate_publish SINGULARITY_PATH "$bin"
validate_publish SINGULARITY_VERSION "$version"
validate_pass path="$bin" version="$version" image="$image" mode="$mode" \
    max_user_namespaces="${userns:-unknown}"
