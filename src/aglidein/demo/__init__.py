"""`aglidein demo`: setup (state dir, key, config), the run, the live view, the checks."""
