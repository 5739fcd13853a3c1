// Registry: the SQLite registry of experts and routers, with weights and data as content-addressed blobs.
