-- A virtual server can be turned off without losing its members: a
-- disabled one is not pushed to data planes, so its URLs answer 404 until
-- it is enabled again.
ALTER TABLE servers ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT TRUE;
