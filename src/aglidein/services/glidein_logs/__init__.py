"""The glideins' logs: records posted by pilots (`ingest`), stored (aglidein.store), read
back (`query`, `tail`, `glidein_list`), stderr of glideins that posted nothing (`stderr`),
all served by the log service (`service`)."""
