"""Whether an entry's credential lets it get new glideins (DESIGN §7, last bullet).

Pure: the policy passes the renewer's `CredentialState` and the time. An entry whose
credential has no refresh and would expire before a new glidein's `max_walltime` ends,
or whose refreshable credential is below `min_lifetime` (renewal is failing), gets no
new glideins: `credential_expiring`. An entry whose credential is missing, unreadable
or unknown gets `no_credential`.
"""

from __future__ import annotations

from collections.abc import Mapping

from aglidein.config import Config, CredentialConfig, EntryConfig
from aglidein.core.model import CredentialState, LimitReason

__all__ = ["credential_blocks_new_glideins", "entry_credential_block", "entry_max_walltime"]


def credential_blocks_new_glideins(
    state: CredentialState | None,
    config_credential: CredentialConfig | None,
    max_walltime: float,
    now: float,
) -> str | None:
    """`"credential_expiring"`, `"no_credential"`, or None when new glideins may go."""
    if config_credential is None or state is None or not state.ok:
        return LimitReason.NO_CREDENTIAL.value
    if state.expires is None:  # an ssh key, or a token without exp: does not expire
        return None
    left = state.expires - now
    if state.refreshable:
        if left < config_credential.min_lifetime:
            return LimitReason.CREDENTIAL_EXPIRING.value
        return None
    if left < max_walltime:
        return LimitReason.CREDENTIAL_EXPIRING.value
    return None


def entry_credential_block(
    config: Config,
    entry: EntryConfig,
    credentials: Mapping[str, CredentialState],
    now: float,
) -> str | None:
    """The credential cut for one entry: None for `local`/idtoken entries or a good credential."""
    if entry.auth is None or entry.auth.method == "idtoken":
        return None
    name = entry.auth.credential
    if name is None:
        return LimitReason.NO_CREDENTIAL.value
    try:
        credential = config.credential(name)
    except KeyError:
        return LimitReason.NO_CREDENTIAL.value
    max_walltime = entry_max_walltime(config, entry)
    return credential_blocks_new_glideins(credentials.get(name), credential, max_walltime, now)


def entry_max_walltime(config: Config, entry: EntryConfig) -> float:
    """The entry's `glidein.max_walltime`, else the factory's (seconds)."""
    if entry.glidein.max_walltime is not None:
        return entry.glidein.max_walltime
    return config.factory.glidein.max_walltime
