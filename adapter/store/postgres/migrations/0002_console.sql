-- Version 2: what the web console keeps that every instance must see —
-- sign-in links, console sessions, the single-use nonces of its token
-- forms and the messages a redirect carries to the next page — under the
-- SHA-256 of their secret, never the secret. The key that signs the
-- console's CSRF tokens is a row of scim_meta.

CREATE TABLE scim_console (
	kind       TEXT        NOT NULL, -- link, session, nonce, flash
	hash       BYTEA       NOT NULL,
	owner      TEXT        NOT NULL, -- the principal a nonce or message is for, or ''
	record     BYTEA       NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL,
	used       BOOLEAN     NOT NULL DEFAULT FALSE,
	PRIMARY KEY (kind, hash)
);
-- Trimming an owner's records, oldest to expire first.
CREATE INDEX scim_console_owner ON scim_console (kind, owner, expires_at);
-- Sweeping expired records.
CREATE INDEX scim_console_expiry ON scim_console (kind, expires_at);
