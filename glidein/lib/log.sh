#!/bin/bash
# shellcheck shell=bash
# Structured log records for the pilot: one flat NDJSON object per line.
#
#   log_init DIR                      spool in DIR (records.ndjson, seq, lock)
#   log_when_idle CMD [ARGS...]       in a trap: run CMD once no append is in progress
#   log_event LEVEL EVENT [k=v ...]   append one record; k=v is a string field,
#                                     k:=v a number or boolean (falls back to string)
#
# Without log_init (a validation script run by hand) records go to stdout.
# Pure bash (>= 4.2): no jq, no python; JSON escaping handles quotes, backslashes,
# control characters and invalid UTF-8 (replaced by U+FFFD).

_LOG_DIR=${GLIDEIN_LOG_DIR:-}
_LOG_STANDALONE_SEQ=0
_LOG_STDERR_LEVEL=${GLIDEIN_LOG_STDERR_LEVEL:-info}
_LOG_VALUE_MAX=${GLIDEIN_LOG_VALUE_MAX:-4096}
_LOG_RECORD_MAX=${GLIDEIN_LOG_RECORD_MAX:-15000}
_LOG_FIELDS_MAX=${GLIDEIN_LOG_FIELDS_MAX:-60}

# log_init DIR: use DIR as the spool (created 0700); later processes that source
# this file find it through GLIDEIN_LOG_DIR.
log_init() {
    _LOG_DIR=$1
    mkdir -p "$_LOG_DIR" || return 1
    chmod 700 "$_LOG_DIR" 2>/dev/null
    [[ -s "$_LOG_DIR/seq" ]] || printf '%s\n' -1 >"$_LOG_DIR/seq"
    [[ -e "$_LOG_DIR/records.ndjson" ]] || : >"$_LOG_DIR/records.ndjson"
    export GLIDEIN_LOG_DIR=$_LOG_DIR
}

# _log_level_rank LEVEL: sets _LOG_RANK (0..4), returns 1 for an unknown level.
_log_level_rank() {
    case $1 in
        debug) _LOG_RANK=0 ;;
        info) _LOG_RANK=1 ;;
        warning) _LOG_RANK=2 ;;
        error) _LOG_RANK=3 ;;
        critical) _LOG_RANK=4 ;;
        *) _LOG_RANK=1; return 1 ;;
    esac
}

# _log_now: sets _LOG_TS to the current time, RFC 3339 UTC with milliseconds.
_log_now() {
    local TZ=UTC0
    export TZ
    if [[ -n ${EPOCHREALTIME-} ]]; then
        local t=$EPOCHREALTIME
        local frac=${t#*[.,]}000
        printf -v _LOG_TS '%(%Y-%m-%dT%H:%M:%S)T.%sZ' "${t%[.,]*}" "${frac:0:3}"
    else
        _LOG_TS=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ 2>/dev/null)
        if [[ $_LOG_TS != *Z || $_LOG_TS == *N* ]]; then
            printf -v _LOG_TS '%(%Y-%m-%dT%H:%M:%S)TZ' -1
        fi
    fi
}

# _log_utf8_clean STRING: sets _LOG_U to STRING with every byte that is not part of a
# valid UTF-8 sequence replaced by U+FFFD (only called when STRING has high bytes).
_log_utf8_clean() {
    local LC_ALL=C
    local s=$1 out="" i=0 n=${#1} b need j ok lo hi c
    while ((i < n)); do
        c=${s:i:1}
        printf -v b '%d' "'$c"
        ((b < 0)) && ((b += 256))
        if ((b < 128)); then
            out+=$c
            ((i++))
            continue
        fi
        need=0 lo=128 hi=191
        if ((b >= 0xC2 && b <= 0xDF)); then need=1
        elif ((b == 0xE0)); then need=2 lo=160
        elif ((b >= 0xE1 && b <= 0xEC)) || ((b == 0xEE || b == 0xEF)); then need=2
        elif ((b == 0xED)); then need=2 hi=159
        elif ((b == 0xF0)); then need=3 lo=144
        elif ((b >= 0xF1 && b <= 0xF3)); then need=3
        elif ((b == 0xF4)); then need=3 hi=143
        fi
        # j ends at the first byte that does not continue the sequence: the bytes
        # before it are one maximal subpart, replaced by a single U+FFFD.
        ok=0
        j=1
        if ((need > 0)); then
            ok=1
            for ((j = 1; j <= need; j++)); do
                if ((i + j >= n)); then ok=0; break; fi
                printf -v c '%d' "'${s:i+j:1}"
                ((c < 0)) && ((c += 256))
                if ((j == 1)); then
                    ((c >= lo && c <= hi)) || { ok=0; break; }
                else
                    ((c >= 128 && c <= 191)) || { ok=0; break; }
                fi
            done
        fi
        if ((ok)); then
            out+=${s:i:need+1}
            ((i += need + 1))
        else
            out+=$'\xef\xbf\xbd'
            ((i += j))
        fi
    done
    _LOG_U=$out
}

# log_json_string STRING: sets _LOG_J to STRING as a JSON string literal (quoted).
log_json_string() {
    local LC_ALL=C
    local s=$1 k ch hex
    if [[ $s == *[$'\x80'-$'\xff']* ]]; then
        _log_utf8_clean "$s"
        s=$_LOG_U
    fi
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    if [[ $s == *[$'\x01'-$'\x1f']* ]]; then
        s=${s//$'\n'/\\n}
        s=${s//$'\r'/\\r}
        s=${s//$'\t'/\\t}
        s=${s//$'\b'/\\b}
        s=${s//$'\f'/\\f}
        if [[ $s == *[$'\x01'-$'\x1f']* ]]; then
            for ((k = 1; k < 32; k++)); do
                printf -v hex '%02x' "$k"
                printf -v ch "%b" "\\x$hex"
                [[ $s == *"$ch"* ]] && s=${s//"$ch"/\\u00$hex}
            done
        fi
    fi
    _LOG_J="\"$s\""
}

# _log_truncate STRING MAX: sets _LOG_T to at most MAX bytes of STRING (a cut
# multi-byte character is later replaced by U+FFFD) and _LOG_CUT to 1 when cut.
_log_truncate() {
    local LC_ALL=C
    _LOG_CUT=0
    if ((${#1} > $2)); then
        _LOG_T="${1:0:$2}...[truncated]"
        _LOG_CUT=1
    else
        _LOG_T=$1
    fi
}

# The spool lock. Every writer (the pilot, its traps, validation scripts, the flusher,
# children that source this file) takes it to give a record the next seq and append
# it, so seqs are unique and increase down records.ndjson.
# - flock(1) when present: an exclusive lock on a descriptor of .lock opened for this
#   append only (so no child inherits it), released by the kernel if we die.
# - without flock: a lock file made atomically (ln) holding its owner's pid and a
#   unique token; a waiter breaks it only when that pid is dead, and only once per
#   token (ln stale.TOKEN), so two waiters can never both take it.
# - A trap that logs while this same shell holds the lock (it fired mid-append) must
#   not wait for it: its record is queued and appended, with its own seq, by the
#   interrupted append before it lets go. log_when_idle defers a trap's work (which
#   may exit) until the append is done.
_LOG_BUSY_PID=""
_LOG_QUEUE=()
_LOG_QUEUE_DONE=0
_LOG_DEFERRED=()
_LOG_LOCK_FD=""
_LOG_LOCKED_BY=""

# log_when_idle CMD [ARGS...]: run CMD now or, when a trap fired while this shell was
# appending a record, right after that append (use it in traps whose handler exits).
log_when_idle() {
    if [[ $_LOG_BUSY_PID == "$BASHPID" ]]; then
        local quoted
        printf -v quoted '%q ' "$@"
        _LOG_DEFERRED+=("$quoted")
        return 0
    fi
    "$@"
}

_LOG_FLOCK_FAILED=0
_log_use_flock() {
    [[ ${GLIDEIN_LOG_NO_FLOCK:-0} != 1 ]] && ((!_LOG_FLOCK_FAILED)) && command -v flock >/dev/null 2>&1
}

# _log_lock / _log_unlock: the spool lock (see above). A file system without locks
# (flock fails, as on some NFS) fails every writer alike: all use the lock file then.
_log_lock() {
    if _log_use_flock; then
        exec {_LOG_LOCK_FD}>>"$_LOG_DIR/.lock" || return 1
        if flock -x "$_LOG_LOCK_FD" 2>/dev/null; then
            _LOG_LOCKED_BY=flock
            return 0
        fi
        exec {_LOG_LOCK_FD}>&-
        _LOG_FLOCK_FAILED=1
    fi
    _LOG_LOCKED_BY=lockfile
    local lock="$_LOG_DIR/.lock.owner" tmp token owner pid
    token="$BASHPID.${EPOCHREALTIME:-$SECONDS}.$RANDOM$RANDOM"
    tmp="$_LOG_DIR/.lock.$token"
    printf '%s\n' "$token" >|"$tmp" || return 1
    until ln "$tmp" "$lock" 2>/dev/null; do
        owner="" && read -r owner <"$lock" 2>/dev/null
        pid=${owner%%.*}
        if [[ $pid =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null &&
            ln "$lock" "$_LOG_DIR/.lock.stale.$owner" 2>/dev/null; then
            # only we may break this token's lock; remove it if it is still that lock
            [[ $lock -ef $_LOG_DIR/.lock.stale.$owner ]] && rm -f "$lock"
            continue
        fi
        sleep 0.01
    done
    rm -f "$tmp"
}

_log_unlock() {
    if [[ $_LOG_LOCKED_BY == flock ]]; then
        exec {_LOG_LOCK_FD}>&-
    else
        rm -f "$_LOG_DIR/.lock.owner"
    fi
}

# _log_write BODY: under the lock, give BODY the next seq and append it; sets _LOG_SEQ.
_log_write() {
    local seq=-1
    read -r seq <"$_LOG_DIR/seq" 2>/dev/null
    [[ $seq =~ ^-?[0-9]+$ ]] || seq=$(($(wc -l <"$_LOG_DIR/records.ndjson") + 1000000))
    ((seq++))
    printf '%s\n' "$seq" >|"$_LOG_DIR/seq"   # >|: even if the caller set noclobber
    printf '{"seq":%s,%s}\n' "$seq" "$1" >>"$_LOG_DIR/records.ndjson"
    _LOG_SEQ=$seq
}

# _log_drain: append the queued records (under the lock). The queue only grows, by
# traps, while _LOG_BUSY_PID is this shell; _LOG_QUEUE_DONE counts what is written.
_log_drain() {
    while ((_LOG_QUEUE_DONE < ${#_LOG_QUEUE[@]})); do
        _log_write "${_LOG_QUEUE[_LOG_QUEUE_DONE]}"
        ((_LOG_QUEUE_DONE++))
    done
}

# _log_append BODY: append BODY as the next record (queued when a trap interrupted
# this shell's own append; see above).
_log_append() {
    if [[ $_LOG_BUSY_PID == "$BASHPID" ]]; then
        _LOG_QUEUE+=("$1")
        return 0
    fi
    _LOG_BUSY_PID=$BASHPID
    _log_lock || { _LOG_BUSY_PID=""; return 1; }
    _log_write "$1"
    while :; do
        _log_drain
        _log_unlock
        _LOG_BUSY_PID=""
        # a trap that fired between the drain and here queued its record: append it
        ((_LOG_QUEUE_DONE < ${#_LOG_QUEUE[@]})) || break
        _LOG_BUSY_PID=$BASHPID
        _log_lock || { _LOG_BUSY_PID=""; return 1; }
    done
    # not busy any more: a trap now appends for itself, the queue no longer grows
    if ((_LOG_QUEUE_DONE >= ${#_LOG_QUEUE[@]})); then
        _LOG_QUEUE=()
        _LOG_QUEUE_DONE=0
    fi
    local cmd
    while ((${#_LOG_DEFERRED[@]})); do
        cmd=${_LOG_DEFERRED[0]}
        _LOG_DEFERRED=("${_LOG_DEFERRED[@]:1}")
        eval "$cmd"
    done
    return 0
}

# log_event LEVEL EVENT [key=value | key:=number-or-bool ...]
# Never fails the caller: a bad level becomes info, a bad key is made safe.
log_event() {
    local level=${1:-info} event=${2:-unknown} arg key value raw body human
    shift 2 2>/dev/null || shift $#
    _log_level_rank "$level" || level=info
    local rank=$_LOG_RANK
    event=${event//[^A-Za-z0-9_.-]/_}
    [[ -n $event ]] || event=unknown
    _log_now
    body="\"ts\":\"$_LOG_TS\",\"level\":\"$level\",\"event\":\"$event\""
    human="$_LOG_TS ${level^^} $event"
    local nfields=0 dropped=0 cut=0
    for arg in "$@"; do
        [[ $arg == *=* ]] || { key=$arg; value=""; raw=0; }
        if [[ $arg == *=* ]]; then
            key=${arg%%=*}
            value=${arg#*=}
            raw=0
            if [[ $key == *: ]]; then
                key=${key%:}
                raw=1
            fi
        fi
        key=${key//[^A-Za-z0-9_.]/_}
        [[ -n $key ]] || key=field
        case $key in
            seq | ts | level | event | glidein) key="field_$key" ;;
        esac
        if ((nfields >= _LOG_FIELDS_MAX)); then
            ((dropped++))
            continue
        fi
        if ((raw)) && [[ $value =~ ^(true|false|-?(0|[1-9][0-9]{0,17})(\.[0-9]+)?([eE][-+]?[0-9]{1,3})?)$ ]]; then
            _LOG_J=$value
        else
            _log_truncate "$value" "$_LOG_VALUE_MAX"
            ((_LOG_CUT)) && cut=1
            log_json_string "$_LOG_T"
        fi
        if ((${#body} + ${#key} + ${#_LOG_J} + 4 > _LOG_RECORD_MAX)); then
            ((dropped++))
            continue
        fi
        body+=",\"$key\":$_LOG_J"
        ((nfields++))
        value=${value//$'\n'/ }
        if [[ $key == msg ]]; then
            human+=" $value"
        else
            human+=" $key=$value"
        fi
    done
    ((dropped)) && body+=",\"fields_dropped\":$dropped"
    ((cut)) && body+=",\"truncated\":true"
    if [[ -n $_LOG_DIR ]]; then
        _log_append "$body" 2>/dev/null
    else
        printf '{"seq":%s,%s}\n' "$_LOG_STANDALONE_SEQ" "$body"
        ((_LOG_STANDALONE_SEQ++))
    fi
    _log_level_rank "$_LOG_STDERR_LEVEL"
    if ((rank >= _LOG_RANK)); then
        printf '%s\n' "$human" >&2
    fi
    return 0
}
