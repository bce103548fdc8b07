-- A backend that is itself an mcpgw gateway says so at discovery (its
-- initialize result carries its id): the id is kept here, pushed to data
-- planes, and used to keep two gateways that register each other from
-- listing each other's items back. Empty for other backends.
ALTER TABLE backends ADD COLUMN peer_gateway_id TEXT NOT NULL DEFAULT '';
