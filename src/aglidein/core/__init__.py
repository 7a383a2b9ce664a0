"""Pure decision logic: data in, data out; no I/O, no clock."""
