-- Items the registry holds itself (prompt templates, resources with their
-- content, resource templates, REST endpoints as tools, created through the
-- admin APIs) belong to one built-in backend, 'registry', whose slug is
-- empty, so they are served under their own names (the control plane adds
-- it when it opens the registry). `owned` is what an item is made of, as
-- the protobuf OwnedItem message (base64), exactly what data planes get;
-- empty for the items of other backends.
ALTER TABLE catalog ADD COLUMN owned TEXT NOT NULL DEFAULT '';
