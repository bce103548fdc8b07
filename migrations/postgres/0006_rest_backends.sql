-- REST backends: their tools' endpoints, as the protobuf RestTools message
-- (base64), so the stored form is exactly what the API took and data planes
-- get. Empty for other backends.
ALTER TABLE backends ADD COLUMN rest_tools TEXT NOT NULL DEFAULT '';
