#!/bin/bash
# GPUs: how many the node has, against how many the entry promises.
#   GLIDEIN_GPUS (attr): required number of GPUs (0 or unset: none required;
#     "auto": use whatever is found)
# Detection: nvidia-smi on PATH, else HTCondor's condor_gpu_discovery
# ($CONDOR_DIR/libexec). Advertises GLIDEIN_GPUS_DETECTED (and GPU names).
# shellcheck source=SCRIPTDIR/../lib/validate.sh
. "${BASH_SOURCE[0]%/*}/../lib/validate.sh"
validate_begin gpus

want=$(attr_get GLIDEIN_GPUS 0)
count=""
names=""
method=""
if command -v nvidia-smi >/dev/null 2>&1; then
    method=nvidia-smi
    count=0
    while IFS=, read -r _ name _; do
        [[ -n $name ]] || continue
        ((count++))
        names+="${names:+,}${name# }"
    done < <(run_with_timeout 60 nvidia-smi --query-gpu=index,name,memory.total \
        --format=csv,noheader 2>/dev/null)
elif [[ -n ${CONDOR_DIR-} && -x $CONDOR_DIR/libexec/condor_gpu_discovery ]]; then
    method=condor_gpu_discovery
    count=0
    line=$(run_with_timeout 60 "$CONDOR_DIR/libexec/condor_gpu_discovery" 2>/dev/null |
        grep '^DetectedGPUs=')
    ids=${line#DetectedGPUs=}
    ids=${ids//[\" ]/}
    if [[ -n $ids && $ids != 0 ]]; then
        IFS=, read -ra list <<<"$ids"
        count=${#list[@]}
        names=$ids
    fi
fi

if [[ -z $method ]]; then
    [[ $want =~ ^[1-9][0-9]*$ ]] &&
        validate_fail_advertised "the entry promises $want GPU(s) but there is no way to find them (no nvidia-smi, no condor_gpu_discovery)" required:="$want"
    validate_skip "no GPU tooling on this node" detected:=0
fi
validate_publish GLIDEIN_GPUS_DETECTED "$count"
[[ -n $names ]] && validate_publish GLIDEIN_GPU_NAMES "$names"
if [[ $want =~ ^[0-9]+$ ]] && ((count < want)); then
    validate_fail_advertised "found $count GPU(s), the entry promises $want" detected:="$count" \
        required:="$want" method="$method" names="$names"
fi
validate_pass detected:="$count" required="$want" method="$method" names="$names"
