-- Platform foundation: what every service schema shares.
--
-- Each service's first migration calls platform.install_service_tables('<schema>') so that its
-- outbox and idempotency tables have exactly the layout the platform library (crates/platform,
-- crates/events) and the native relay (ops/) expect. The function runs with the privileges of the
-- caller: `nexgate-ops migrate` runs a service's migrations as that service's role, so the tables
-- belong to the service.

CREATE SCHEMA IF NOT EXISTS platform;
GRANT USAGE ON SCHEMA platform TO nexgate_services;

CREATE FUNCTION platform.install_service_tables(target_schema text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- Domain events written in the same transaction as the change; published after commit and
    -- marked, or republished by the relay when a component died before marking (DESIGN.md, Events).
    EXECUTE format($ddl$
        CREATE TABLE %1$I.outbox (
            id uuid NOT NULL,
            event_type text NOT NULL,
            topic text NOT NULL,
            payload jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            published_at timestamptz,
            publish_attempts integer NOT NULL DEFAULT 0,
            -- Events that carry a one-time secret are deleted once published.
            purge_after_publish boolean NOT NULL DEFAULT false,
            CONSTRAINT outbox_pkey PRIMARY KEY (id),
            CONSTRAINT outbox_event_type_format CHECK (event_type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){2}$')
        )$ddl$, target_schema);
    EXECUTE format('CREATE INDEX outbox_unpublished_idx ON %I.outbox (created_at) WHERE published_at IS NULL',
                   target_schema);

    -- First responses of requests made with an Idempotency-Key (DESIGN.md, Security).
    EXECUTE format($ddl$
        CREATE TABLE %1$I.idempotency_keys (
            scope text NOT NULL,
            idempotency_key text NOT NULL,
            request_hash text NOT NULL,
            -- NULL while the first request is still being processed.
            response_status smallint,
            response_content_type text,
            response_body bytea,
            created_at timestamptz NOT NULL DEFAULT now(),
            completed_at timestamptz,
            CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, idempotency_key),
            CONSTRAINT idempotency_keys_key_length CHECK (char_length(idempotency_key) BETWEEN 1 AND 255)
        )$ddl$, target_schema);

    -- The relay republishes every schema's stale outbox rows.
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO nexgate_relay', target_schema);
    EXECUTE format('GRANT SELECT, UPDATE, DELETE ON %I.outbox TO nexgate_relay', target_schema);
END
$$;

COMMENT ON FUNCTION platform.install_service_tables(text) IS
    'Creates <schema>.outbox and <schema>.idempotency_keys with the layout the platform library expects.';
GRANT EXECUTE ON FUNCTION platform.install_service_tables(text) TO nexgate_services;
