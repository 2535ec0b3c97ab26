-- The media worker's jobs, kept by the File Manager (issue "Security hardening", docs/files.md).
-- The bus carries only a job's id and its file's id; the worker reads what to do (sources,
-- destination) here, over `GET /internal/files/jobs/{id}`, so a forged or altered event cannot
-- make it copy or delete objects the job's file does not own.

CREATE TABLE files.media_jobs (
    id uuid NOT NULL,
    file_id uuid NOT NULL,
    job text NOT NULL,
    -- `transcode_video`: the uploaded original (private bucket), deleted once the result is in.
    source_key text,
    -- `webp_variants`: [{name, key}] of the JPEG/PNG variants to add WebP to (under the prefix).
    sources jsonb NOT NULL DEFAULT '[]',
    requested_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT media_jobs_pkey PRIMARY KEY (id),
    CONSTRAINT media_jobs_file_fkey FOREIGN KEY (file_id) REFERENCES files.files (id) ON DELETE CASCADE,
    CONSTRAINT media_jobs_job CHECK (job IN ('transcode_video', 'webp_variants')),
    CONSTRAINT media_jobs_transcode_has_source CHECK (job <> 'transcode_video' OR source_key IS NOT NULL)
);
CREATE INDEX media_jobs_file_idx ON files.media_jobs (file_id);
