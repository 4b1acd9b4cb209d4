-- Version 3: each tenant's latest SCIM requests, which the console's
-- connection check lists, so that it shows the requests of every
-- instance. Never a body or a credential. origin names the process that
-- served a request and n counts that process's requests; each tenant
-- keeps its newest few rows.

CREATE TABLE scim_requests (
	tenant      TEXT        NOT NULL,
	origin      TEXT        NOT NULL,
	n           BIGINT      NOT NULL,
	at          TIMESTAMPTZ NOT NULL,
	operation   TEXT        NOT NULL,
	status      INT         NOT NULL,
	reason      TEXT        NOT NULL,
	client_ip   TEXT        NOT NULL,
	duration_ns BIGINT      NOT NULL,
	PRIMARY KEY (tenant, origin, n)
);
-- A tenant's newest rows.
CREATE INDEX scim_requests_latest ON scim_requests (tenant, at DESC);
