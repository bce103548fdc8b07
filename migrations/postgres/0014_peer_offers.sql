-- What a peer gateway said, at its last discovery, about the gateways it
-- federates with (a JSON list of {"name", "url", "id"}; empty for none):
-- with FEDERATION_DISCOVERY on, those not registered here are offered.
ALTER TABLE backends ADD COLUMN offered_peers TEXT NOT NULL DEFAULT '';
