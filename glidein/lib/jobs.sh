#!/bin/bash
# shellcheck shell=bash disable=SC2034  # globals are return values and shared state
# The user jobs the glidein's startd ran, as records the factory indexes (job.start,
# job.end), so `aglidein logs search --job 1234.0@schedd` finds the glidein.
#
#   jobs_history_poll FILE   job.end for each job ad appended to the startd's
#                            STARTD_HISTORY file since the last call
#   jobs_running_poll        job.start for each job condor_who newly shows running
#   jobs_id GLOBALJOBID      sets JOB_ID to Cluster.Proc@schedd (schedd#c.p#qdate)
#
# Why these sources: the STARTD_HISTORY file is written by the startd itself when a
# job leaves the slot (completed, evicted or killed), holding the job's own ad
# (GlobalJobId, Owner, JobCurrentStartDate, CompletionDate, ExitCode, ExitBySignal),
# so no job is missed however short it was, and reading it needs no daemon to answer.
# It only knows jobs that ended; the running ones come from polling the local startd
# (`condor_who -af`, no collector query), which shows a job as soon as it started
# and before the glidein ends.

declare -g JOBS_HISTORY_LINES=0 # lines of the history file already read
declare -g JOBS_HISTORY_ID=""   # its device:inode (a rotation gives the file a new one)
declare -gA JOBS_STARTED=() # job id -> 1 once job.start was recorded
declare -gA JOBS_ENDED=()   # job id + start -> 1 once job.end was recorded

# jobs_id GLOBALJOBID: sets JOB_ID to `Cluster.Proc@schedd`; returns 1 when the value
# is not schedd#cluster.proc#qdate.
jobs_id() {
    local raw=${1//\"/}
    JOB_ID=""
    [[ $raw =~ ^([^#[:space:]]+)#([0-9]+\.[0-9]+)#[0-9]+$ ]] || return 1
    JOB_ID="${BASH_REMATCH[2]}@${BASH_REMATCH[1]}"
}

# _jobs_unquote VALUE: sets JOB_V to a ClassAd string literal's text (or VALUE as is).
_jobs_unquote() {
    local v=$1
    if [[ $v == \"*\" && ${#v} -ge 2 ]]; then
        v=${v:1:${#v}-2}
        v=${v//\\\"/\"}
    fi
    JOB_V=$v
}

# _jobs_int VALUE: sets JOB_N to VALUE as an integer epoch/code, or "" when it is not one.
_jobs_int() {
    JOB_N=""
    [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?$ ]] && JOB_N=${1%%.*}
}

# _jobs_end_ad: one job ad from the history file (in JOB_AD) as a job.end record.
_jobs_end_ad() {
    jobs_id "${JOB_AD[GlobalJobId]-}" || return 0
    local owner start end code signal by_signal level=info fields=()
    _jobs_unquote "${JOB_AD[Owner]:-${JOB_AD[User]-}}"
    owner=$JOB_V
    _jobs_int "${JOB_AD[JobCurrentStartDate]:-${JOB_AD[JobStartDate]-}}"
    start=$JOB_N
    _jobs_int "${JOB_AD[CompletionDate]-}"
    end=$JOB_N
    if [[ -z $end || $end == 0 ]]; then
        _jobs_int "${JOB_AD[EnteredCurrentStatus]-}"
        end=$JOB_N
    fi
    [[ -z $end || $end == 0 ]] && { now_epoch; end=$NOW; }
    local key="$JOB_ID/${start:-?}"
    [[ -n ${JOBS_ENDED[$key]-} ]] && return 0
    JOBS_ENDED[$key]=1
    by_signal=${JOB_AD[ExitBySignal]-false}
    if [[ ${by_signal,,} == true ]]; then
        _jobs_int "${JOB_AD[ExitSignal]-}"
        signal=$JOB_N
        [[ -n $signal ]] && fields+=("exit_signal:=$signal")
        level=warning
    else
        _jobs_int "${JOB_AD[ExitCode]-}"
        code=$JOB_N
        [[ -n $code ]] && fields+=("exit_code:=$code")
        [[ -n $code && $code != 0 ]] && level=warning
    fi
    [[ -n $start && $start != 0 ]] && fields+=("start_time:=$start" "duration_s:=$((end - start))")
    log_event "$level" job.end job="$JOB_ID" owner="$owner" end_time:="$end" "${fields[@]}" \
        msg="user job $JOB_ID of $owner ended"
}

# jobs_history_poll FILE: a job.end record for every complete ad appended to FILE
# (the startd's STARTD_HISTORY: `Attr = value` lines, each ad closed by a `***` line)
# since the last call. A half-written ad is read next time. When the startd rotated the
# file (MAX_HISTORY_LOG: renamed to FILE.<time>, a new FILE begun), the rest of the file
# read so far is found by its inode and read first, then the new file from its start.
jobs_history_poll() {
    local file=$1 id total rotated
    [[ -r $file ]] || return 0
    id=$(stat -c '%d:%i' -- "$file" 2>/dev/null) || id=""
    if [[ -n $JOBS_HISTORY_ID && -n $id && $id != "$JOBS_HISTORY_ID" ]]; then
        rotated=$(_jobs_renamed "$file" "$JOBS_HISTORY_ID")
        [[ -n $rotated ]] && _jobs_history_read "$rotated"
        JOBS_HISTORY_LINES=0
    fi
    [[ -n $id ]] && JOBS_HISTORY_ID=$id
    # without an inode: a history shorter than what was read was rotated; start over
    # (the ends already recorded are skipped by JOBS_ENDED)
    total=$(wc -l <"$file" 2>/dev/null) || total=0
    ((total < JOBS_HISTORY_LINES)) && JOBS_HISTORY_LINES=0
    _jobs_history_read "$file"
}

# _jobs_renamed FILE ID: prints the FILE.* whose device:inode is ID (FILE rotated).
_jobs_renamed() {
    local candidate
    for candidate in "$1".*; do
        [[ -f $candidate && $(stat -c '%d:%i' -- "$candidate" 2>/dev/null) == "$2" ]] || continue
        printf '%s\n' "$candidate"
        return 0
    done
}

# _jobs_history_read FILE: the complete ads of FILE past JOBS_HISTORY_LINES.
_jobs_history_read() {
    local file=$1 line n=0 done_lines=0 name value
    declare -gA JOB_AD=()
    while IFS= read -r line || [[ -n $line ]]; do
        ((n++))
        if [[ $line == '***'* ]]; then
            _jobs_end_ad
            JOB_AD=()
            done_lines=$n
        elif [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$ ]]; then
            name=${BASH_REMATCH[1]}
            value=${BASH_REMATCH[2]}
            JOB_AD[$name]=$value
        fi
    done < <(tail -n "+$((JOBS_HISTORY_LINES + 1))" "$file" 2>/dev/null)
    ((JOBS_HISTORY_LINES += done_lines))
    return 0
}

# jobs_running_poll: a job.start record for each job the local startd runs that was
# not recorded yet (`condor_who -af GlobalJobId JobStart RemoteOwner`, bounded).
jobs_running_poll() {
    local out global start owner
    _condor_bin condor_who || return 0
    out=$(run_with_timeout "${GLIDEIN_JOBS_QUERY_TIMEOUT:-30}" "$CONDOR_BIN" \
        -logdir "$CONDOR_LOCAL/log" -af GlobalJobId JobStart RemoteOwner 2>/dev/null) || return 0
    while read -r global start owner; do
        jobs_id "$global" || continue
        [[ -n ${JOBS_STARTED[$JOB_ID]-} ]] && continue
        JOBS_STARTED[$JOB_ID]=1
        _jobs_unquote "$owner"
        owner=${JOB_V%@*}
        _jobs_int "$start"
        start=$JOB_N
        if [[ -z $start || $start == 0 ]]; then now_epoch; start=$NOW; fi
        log_event info job.start job="$JOB_ID" owner="$owner" start_time:="$start" \
            msg="user job $JOB_ID of $owner started"
    done <<<"$out"
    return 0
}
