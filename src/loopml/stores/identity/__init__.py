"""The identity store: users, API tokens and role bindings, beside the metadata store on the
same database. Backends: sql (:mod:`.sql`) and remote (:mod:`loopml.stores.remote.identity`),
chosen by URI scheme in :mod:`loopml.stores.registry`."""
