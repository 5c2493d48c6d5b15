"""The loop store: the records of the monitoring loop (deployments, leases), beside the
metadata store on the same database. Backends: sql (:mod:`.sql`) and remote
(:mod:`loopml.stores.remote.loop`), chosen by URI scheme in :mod:`.registry`."""
