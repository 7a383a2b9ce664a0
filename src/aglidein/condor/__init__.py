"""HTCondor access: Protocols (api), real bindings, the simulated pool (fake)."""
