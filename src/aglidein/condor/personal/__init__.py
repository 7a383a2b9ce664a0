"""A personal HTCondor on 127.0.0.1: the VO pool and the site of a GlideinWMS
installation on one host, started from an HTCondor release (PATH or a tarball).

`aglidein demo --real-pool` runs the factory on it; the real-pool tests (tests/realpool)
use the same code. `release` finds and unpacks HTCondor, `instance` writes one
instance's config and keys and starts/stops its daemons, `topology` starts the pair and
leaves no process behind when it stops.
"""
