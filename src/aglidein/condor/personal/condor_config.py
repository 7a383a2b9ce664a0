"""The condor config of a personal instance: one template, filled by `PoolInstance`.

Fast intervals for one host, IDTOKENS + FS authentication, and the HTCondor-C knobs the
gridmanager of a VO schedd needs to follow glideins at a site promptly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["CONFIG_TEMPLATE", "extra_schedds_config", "schedd_subsystem"]

# a local name is also a config prefix (NAME.SPOOL) and a DAEMON_LIST entry
_LOCAL_NAME = re.compile(r"[a-z][a-z0-9_]{0,30}")
_DAEMONS = ("master", "collector", "negotiator", "schedd", "startd", "gridmanager", "shadow")

CONFIG_TEMPLATE = """\
# Written by aglidein (aglidein.condor.personal). Extra knobs: config.d/
RELEASE_DIR = {release}
LOCAL_DIR = {local}
BIN = {bin}
SBIN = {sbin}
LIB = {lib}
LIBEXEC = {libexec}
ETC = $(LOCAL_DIR)
LOG = $(LOCAL_DIR)/log
SPOOL = $(LOCAL_DIR)/spool
EXECUTE = $(LOCAL_DIR)/execute
LOCK = $(LOCAL_DIR)/lock
RUN = $(LOCAL_DIR)/run
CRED_STORE_DIR = $(LOCAL_DIR)/cred
LOCAL_CONFIG_FILE =
LOCAL_CONFIG_DIR = $(LOCAL_DIR)/config.d

use ROLE : Personal
DAEMON_LIST = {daemons}
CONDOR_HOST = {host}
NETWORK_INTERFACE = {host}
COLLECTOR_HOST = $(CONDOR_HOST):{port}
COLLECTOR_NAME = {schedd}
ENABLE_IPV6 = False
USE_SHARED_PORT = False
UID_DOMAIN = {trust}
# root's tools act as the pool user (the daemons run as it)
{ids}
TRUST_DOMAIN = {trust}
SCHEDD_NAME = {schedd}@{trust}
NUM_CPUS = {cpus}
MEMORY = {memory}
NUM_SLOTS_TYPE_1 = 1
SLOT_TYPE_1 = 100%
SLOT_TYPE_1_PARTITIONABLE = True

use SECURITY : recommended({user})
SEC_DEFAULT_AUTHENTICATION_METHODS = IDTOKENS, FS
SEC_CLIENT_AUTHENTICATION_METHODS = IDTOKENS, FS, ANONYMOUS
SEC_READ_AUTHENTICATION_METHODS = IDTOKENS, FS, ANONYMOUS
SEC_PASSWORD_DIRECTORY = $(LOCAL_DIR)/passwords.d
SEC_TOKEN_POOL_SIGNING_KEY_FILE = $(SEC_PASSWORD_DIRECTORY)/POOL
# tools and bindings (maybe root) read SEC_TOKEN_DIRECTORY, the daemons the system one
SEC_TOKEN_DIRECTORY = $(LOCAL_DIR)/tokens.root.d
SEC_TOKEN_SYSTEM_DIRECTORY = $(LOCAL_DIR)/tokens.d
# glidein startds hold a token signed by this pool's key; the pool listens on 127.0.0.1
ALLOW_ADVERTISE_STARTD = *
ALLOW_ADVERTISE_MASTER = *
ALLOW_ADMINISTRATOR = $(ALLOW_ADMINISTRATOR) {user}@{trust} root@*

use POLICY : ALWAYS_RUN_JOBS
STARTER_ALLOW_RUNAS_OWNER = False

# fast turnaround on one host (as 00-minicondor does)
SCHEDD_INTERVAL = 5
NEGOTIATOR_INTERVAL = 2
NEGOTIATOR_CYCLE_DELAY = 5
NEGOTIATOR_MIN_INTERVAL = 2
STARTER_UPDATE_INTERVAL = 5
SHADOW_QUEUE_UPDATE_INTERVAL = 10
UPDATE_INTERVAL = 5
RUNBENCHMARKS = 0
MASTER_UPDATE_INTERVAL = 30
SCHEDD_UPDATE_INTERVAL = 5
CONDOR_Q_ONLY_MY_JOBS = False
CONDOR_Q_DASH_BATCH_IS_DEFAULT = False
# HTCondor-C from this schedd: poll the remote schedd often; gahp files stay in here
GRIDMANAGER_JOB_PROBE_INTERVAL = 5
# a failed ping of the site (a slow schedd on a loaded host) marks it down: no status
# poll until the next ping, GRIDMANAGER_RESOURCE_PROBE_INTERVAL later (default 300 s)
GRIDMANAGER_RESOURCE_PROBE_INTERVAL = 10
# gm state changes and collective polls in GridmanagerLog.*, to read after a failure
GRIDMANAGER_DEBUG = D_FULLDEBUG
CONDOR_JOB_POLL_INTERVAL = 5
GRIDMANAGER_CONTACT_SCHEDD_DELAY = 2
C_GAHP_CONTACT_SCHEDD_DELAY = 2
C_GAHP_LOG = $(LOG)/CGAHPLog.$(USERNAME)
C_GAHP_LOCK = $(LOCK)/CGAHPLock.$(USERNAME)
C_GAHP_WORKER_THREAD_LOG = $(LOG)/CGAHPWorkerLog.$(USERNAME)
C_GAHP_WORKER_THREAD_LOCK = $(LOCK)/CGAHPWorkerLock.$(USERNAME)
ARC_GAHP_LOG = $(LOG)/ArcGahpLog.$(USERNAME)
{extra}
"""


def schedd_subsystem(local_name: str) -> str:
    """The DAEMON_LIST entry of an extra schedd (`condor_off -daemon` takes it)."""
    return local_name.upper()


def extra_schedds_config(local_names: Sequence[str], taken: Sequence[str] = ()) -> str:
    """Config for more condor_schedds under the same master, each started with
    `-local-name NAME`: named `NAME@<trust domain>`, with its own spool (job queue, job
    ids numbered from 1, history), SchedLog.NAME and SchedAuditLog.NAME.

    Knobs are set as `NAME.KNOB`: unlike `SCHEDD.NAME.KNOB`, HTCondor expands the
    default `$(SPOOL)/job_queue.log` and friends with it, so two schedds never share a
    job queue. ValueError names a local name that is not usable or is used twice
    (`taken`: names already in use, e.g. the instance's own schedd)."""
    lines = []
    seen = {*_DAEMONS, *(name.lower() for name in taken)}
    for name in local_names:
        if not _LOCAL_NAME.fullmatch(name) or name in seen:
            raise ValueError(
                f"extra schedd {name!r}: want a unique lowercase name ([a-z][a-z0-9_]*)"
            )
        seen.add(name)
        sub = schedd_subsystem(name)
        lines += [
            f"{sub} = $(SCHEDD)",
            f"{sub}_ARGS = -local-name {name}",
            f"{name}.SCHEDD_NAME = {name}@$(TRUST_DOMAIN)",
            f"{name}.SPOOL = $(LOCAL_DIR)/spool.{name}",
            f"{name}.SCHEDD_LOG = $(LOG)/SchedLog.{name}",
            f"{name}.SCHEDD_AUDIT_LOG = $(LOG)/SchedAuditLog.{name}",
            f"DAEMON_LIST = $(DAEMON_LIST) {sub}",
        ]
    return "\n".join(lines)
