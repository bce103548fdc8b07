-- How the gateway connects to a backend: its TLS settings in the clear, and
-- its credentials (headers, auth scheme, client key) sealed with the fleet's
-- AUTH_ENCRYPTION_SECRET and bound to the backend id. APIs never return the
-- sealed text; they show credentials_info, which names what is set.
ALTER TABLE backends ADD COLUMN tls_ca_pem TEXT NOT NULL DEFAULT '';
ALTER TABLE backends ADD COLUMN tls_client_cert_pem TEXT NOT NULL DEFAULT '';
ALTER TABLE backends ADD COLUMN tls_insecure_skip_verify BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE backends ADD COLUMN sealed_secrets TEXT NOT NULL DEFAULT '';
-- A JSON object: header names, auth scheme, and its non-secret fields.
ALTER TABLE backends ADD COLUMN credentials_info TEXT NOT NULL DEFAULT '';
