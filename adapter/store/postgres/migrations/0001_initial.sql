-- Version 1: everything the store keeps, one table per kind of key the
-- embedded engine keeps (see adapter/store/keys.go for the counterparts).
-- Plain SQL that CockroachDB accepts as well: no extensions, no
-- PostgreSQL-only types.

-- One row per tenant that has written anything: the journal sequence and
-- the resource counts. A write locks its tenant's row (SELECT … FOR
-- UPDATE), which orders the tenant's writes across every instance and
-- keeps the journal gap-free.
CREATE TABLE scim_tenant_state (
	tenant      TEXT PRIMARY KEY,
	seq         BIGINT NOT NULL DEFAULT 0,
	user_count  BIGINT NOT NULL DEFAULT 0,
	group_count BIGINT NOT NULL DEFAULT 0
);

-- Resources: the stored JSON exactly as written (TEXT, not JSONB, which
-- would reorder keys and lose the bytes lean reads serve).
CREATE TABLE scim_resources (
	tenant TEXT     NOT NULL,
	type   SMALLINT NOT NULL, -- 1 user, 2 group
	id     TEXT     NOT NULL,
	data   TEXT     NOT NULL,
	PRIMARY KEY (tenant, type, id)
);

-- Case-insensitive unique values (userName, a group's displayName), by
-- their folded form (adapter/ident).
CREATE TABLE scim_unique (
	tenant TEXT     NOT NULL,
	type   SMALLINT NOT NULL,
	attr   TEXT     NOT NULL,
	value  TEXT     NOT NULL,
	id     TEXT     NOT NULL,
	PRIMARY KEY (tenant, type, attr, value)
);

-- Equality indexes (externalId, displayName, emails.value).
CREATE TABLE scim_index (
	tenant TEXT     NOT NULL,
	type   SMALLINT NOT NULL,
	attr   TEXT     NOT NULL,
	value  TEXT     NOT NULL,
	id     TEXT     NOT NULL,
	PRIMARY KEY (tenant, type, attr, value, id)
);

-- Membership: one row per edge, so adding a member to a group of any size
-- is one insert; the second index reads a member's groups.
CREATE TABLE scim_members (
	tenant      TEXT     NOT NULL,
	group_id    TEXT     NOT NULL,
	member_id   TEXT     NOT NULL,
	member_type SMALLINT NOT NULL,
	PRIMARY KEY (tenant, group_id, member_id)
);
CREATE INDEX scim_members_of ON scim_members (tenant, member_id, group_id);

-- The change journal, in sequence order per tenant.
CREATE TABLE scim_journal (
	tenant TEXT        NOT NULL,
	seq    BIGINT      NOT NULL,
	at     TIMESTAMPTZ NOT NULL,
	event  TEXT        NOT NULL,
	PRIMARY KEY (tenant, seq)
);

-- Delivery: the cursor and retry state per tenant, and dead letters.
CREATE TABLE scim_delivery (
	tenant TEXT PRIMARY KEY,
	state  TEXT NOT NULL
);
CREATE TABLE scim_dead_letters (
	tenant TEXT   NOT NULL,
	seq    BIGINT NOT NULL,
	letter TEXT   NOT NULL,
	PRIMARY KEY (tenant, seq)
);

-- Bearer tokens by the SHA-256 of the token (never the token), with the
-- tenant's list of them; OAuth clients (secret hashes only) and access
-- tokens by hash; coalesced last-access times.
CREATE TABLE scim_tokens (
	hash   BYTEA PRIMARY KEY,
	tenant TEXT  NOT NULL,
	record TEXT  NOT NULL
);
CREATE INDEX scim_tokens_tenant ON scim_tokens (tenant);
CREATE TABLE scim_clients (
	tenant TEXT PRIMARY KEY,
	record TEXT NOT NULL
);
CREATE TABLE scim_access_tokens (
	hash       BYTEA       PRIMARY KEY,
	tenant     TEXT        NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL,
	record     TEXT        NOT NULL
);
CREATE INDEX scim_access_tokens_tenant ON scim_access_tokens (tenant);
CREATE TABLE scim_access (
	tenant TEXT PRIMARY KEY,
	record TEXT NOT NULL
);

-- Runtime tenants (adapter/tenants records).
CREATE TABLE scim_tenants (
	name   TEXT PRIMARY KEY,
	record TEXT NOT NULL
);

-- Store-wide values, such as the key that signs list cursors.
CREATE TABLE scim_meta (
	name  TEXT PRIMARY KEY,
	value BYTEA NOT NULL
);

-- Leases: which instance runs a job (a tenant's delivery) until when.
CREATE TABLE scim_leases (
	name       TEXT        PRIMARY KEY,
	holder     TEXT        NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);
