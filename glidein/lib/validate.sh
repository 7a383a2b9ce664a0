#!/bin/bash
# shellcheck shell=bash
# Helpers for validate/*.sh. Each validation script is standalone: it sources this
# file, calls validate_begin NAME, checks one thing and ends with validate_pass,
# validate_skip, validate_warn or validate_fail (which exit).
#
# Environment (set by glidein_startup.sh; all optional when run by hand):
#   GLIDEIN_LOG_DIR          spool for records (else records go to stdout)
#   GLIDEIN_ATTRS_FILE       the entry attrs file
#   GLIDEIN_WORK_DIR         the glidein's private work dir (default: $PWD)
#   GLIDEIN_VALIDATE_RESULT  file that receives the failure reason
#   GLIDEIN_VALIDATE_ATTRS   file that receives NAME='VALUE' lines to advertise
#
# Exit status: 0 usable (passed, skipped or warned), 1 node unusable.

_VALIDATE_LIB=${BASH_SOURCE[0]%/*}
# shellcheck source=SCRIPTDIR/log.sh
. "$_VALIDATE_LIB/log.sh"
# shellcheck source=SCRIPTDIR/attrs.sh
. "$_VALIDATE_LIB/attrs.sh"
# shellcheck source=SCRIPTDIR/util.sh
. "$_VALIDATE_LIB/util.sh"

VALIDATE_NAME=""

# validate_begin NAME: name the check and load the entry attrs.
validate_begin() {
    VALIDATE_NAME=$1
    if [[ -n ${GLIDEIN_ATTRS_FILE-} ]]; then
        attrs_load "$GLIDEIN_ATTRS_FILE" ||
            log_event warning "validate.$VALIDATE_NAME.attrs" msg="attrs file problem: $ATTRS_ERROR"
    fi
}

validate_pass() {
    log_event info "validate.$VALIDATE_NAME" result=pass "$@"
    exit 0
}

# validate_skip REASON [fields]: the check does not apply here.
validate_skip() {
    local reason=$1
    shift
    log_event info "validate.$VALIDATE_NAME" result=skip msg="$reason" "$@"
    exit 0
}

# validate_warn REASON [fields]: something is off, but the node is usable.
validate_warn() {
    local reason=$1
    shift
    log_event warning "validate.$VALIDATE_NAME" result=warn msg="$reason" "$@"
    exit 0
}

# validate_fail REASON [fields]: a required check failed; the node is unusable.
validate_fail() {
    local reason=$1
    shift
    log_event error "validate.$VALIDATE_NAME" result=fail msg="$reason" "$@"
    if [[ -n ${GLIDEIN_VALIDATE_RESULT-} ]]; then
        printf '%s\n' "$reason" >"$GLIDEIN_VALIDATE_RESULT"
    fi
    exit 1
}

# validate_fail_advertised REASON [fields]: a promise the startd would advertise
# (cores, memory, GPUs) is not kept: a failure, except in no-condor mode
# (GLIDEIN_CONDOR=none), where nothing is advertised, so only a warning.
validate_fail_advertised() {
    if [[ ${GLIDEIN_CONDOR-} == none ]]; then
        local reason=$1
        shift
        validate_warn "$reason (no-condor mode: nothing is advertised)" "$@"
    fi
    validate_fail "$@"
}

# validate_publish NAME VALUE: advertise NAME=VALUE in the startd ad.
validate_publish() {
    if [[ -n ${GLIDEIN_VALIDATE_ATTRS-} ]]; then
        attr_quote "$2"
        printf '%s=%s\n' "$1" "$ATTR_Q" >>"$GLIDEIN_VALIDATE_ATTRS"
    fi
}

# validate_required MODE: true when MODE (an attr value) means the check must pass.
validate_required() {
    case ${1,,} in
        required | true | yes | 1 | must) return 0 ;;
        *) return 1 ;;
    esac
}
