"""ClassAds: the facade to classad2 (`facade.py`, the one door) and aglidein's own compiler
of the subset it evaluates many times a cycle (`parse`, `evaluate`, `ops`, `funcs`: pure)."""
