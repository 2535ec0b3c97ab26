-- File Manager (issue "File Manager and media worker", docs/files.md): every media file of the
-- platform, its variants in object storage, and what uses it.

SELECT platform.install_service_tables('files');

CREATE TABLE files.files (
    id uuid NOT NULL,
    owner_id uuid NOT NULL,
    purpose text NOT NULL,
    kind text NOT NULL,
    status text NOT NULL,
    failure_reason text,
    -- The type found by magic bytes (image/jpeg, video/mp4, ...); for an upload not yet
    -- completed, the type the client declared and the presigned URL is bound to.
    content_type text NOT NULL,
    -- `public` or `private` bucket (purpose `message` is private).
    bucket text NOT NULL,
    -- Where variants live: `<purpose>/<owner_id>/<id>/`.
    key_prefix text NOT NULL,
    -- Presigned uploads: the object the client PUTs, the size it declared, the URL's expiry.
    upload_key text,
    declared_bytes bigint,
    upload_expires_at timestamptz,
    size_bytes bigint,
    -- Hex SHA-256 of the original bytes: one owner uploading the same bytes for the same
    -- purpose gets the same file back.
    content_hash text,
    width integer,
    height integer,
    duration_ms integer,
    blurhash text,
    -- [{name, format, width, height, bytes, key}]; grows when the media worker adds WebP.
    variants jsonb NOT NULL DEFAULT '[]',
    -- Video poster: {format, width, height, bytes, key}.
    poster jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    ready_at timestamptz,
    deleted_at timestamptz,
    -- Set once every object of a deleted file is gone from storage (the cleanup retries until then).
    storage_purged_at timestamptz,
    CONSTRAINT files_pkey PRIMARY KEY (id),
    CONSTRAINT files_purpose CHECK (purpose IN ('avatar', 'cover', 'post', 'product', 'event', 'message')),
    CONSTRAINT files_kind CHECK (kind IN ('image', 'video')),
    CONSTRAINT files_status CHECK (status IN ('pending', 'processing', 'ready', 'failed')),
    CONSTRAINT files_bucket CHECK (bucket IN ('public', 'private')),
    CONSTRAINT files_private_messages CHECK (purpose <> 'message' OR bucket = 'private'),
    CONSTRAINT files_failure_reason CHECK ((status = 'failed') = (failure_reason IS NOT NULL)),
    CONSTRAINT files_content_hash_format CHECK (content_hash IS NULL OR content_hash ~ '^[0-9a-f]{64}$')
);

-- Content-hash dedupe per owner and purpose, among live files.
CREATE UNIQUE INDEX files_owner_content_key ON files.files (owner_id, purpose, content_hash)
    WHERE deleted_at IS NULL AND content_hash IS NOT NULL AND status <> 'failed';
CREATE INDEX files_owner_idx ON files.files (owner_id, created_at DESC) WHERE deleted_at IS NULL;
-- The cleanup's two scans: uploads never completed, and files never attached.
CREATE INDEX files_pending_upload_idx ON files.files (upload_expires_at) WHERE status = 'pending' AND deleted_at IS NULL;
CREATE INDEX files_created_idx ON files.files (created_at) WHERE deleted_at IS NULL;
CREATE INDEX files_unpurged_idx ON files.files (deleted_at) WHERE deleted_at IS NOT NULL AND storage_purged_at IS NULL;

-- What uses a file: one row per (file, owning service's object). A file with none is cleaned up
-- after `unattached_file_ttl_hours`.
CREATE TABLE files.attachments (
    file_id uuid NOT NULL,
    service text NOT NULL,
    object_type text NOT NULL,
    object_id text NOT NULL,
    attached_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT attachments_pkey PRIMARY KEY (file_id, service, object_type, object_id),
    CONSTRAINT attachments_file_fkey FOREIGN KEY (file_id) REFERENCES files.files (id) ON DELETE CASCADE,
    CONSTRAINT attachments_service_format CHECK (service ~ '^[a-z][a-z0-9_]{0,39}$'),
    CONSTRAINT attachments_object_type_format CHECK (object_type ~ '^[a-z][a-z0-9_]{0,39}$'),
    CONSTRAINT attachments_object_id_length CHECK (char_length(object_id) BETWEEN 1 AND 200)
);

-- Media-worker results already recorded (job id = the event id of the request): a redelivered
-- job's result changes nothing twice.
CREATE TABLE files.job_results (
    job_id uuid NOT NULL,
    file_id uuid NOT NULL,
    outcome text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT job_results_pkey PRIMARY KEY (job_id),
    CONSTRAINT job_results_outcome CHECK (outcome IN ('ready', 'failed'))
);

-- Published for other services (docs/files.md): ready public media with their objects' keys; a
-- reader builds URLs as `<cdn_base_url>/<key>`. Private media are never here.
CREATE VIEW files.public_media AS
    SELECT id AS file_id, owner_id, purpose, kind, width, height, duration_ms, blurhash, variants, poster
    FROM files.files
    WHERE bucket = 'public' AND status = 'ready' AND deleted_at IS NULL;
GRANT USAGE ON SCHEMA files TO nexgate_services;
GRANT SELECT ON files.public_media TO nexgate_services;
