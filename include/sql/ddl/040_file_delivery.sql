-- File-drop deliveries: one row per distinct file (resource, path, content hash). A file is
-- processed once: dropping the same bytes again is a no-op; changed bytes under the same name
-- are a new delivery. Unreadable files are moved to the rejected area and recorded with a reason.
CREATE TABLE IF NOT EXISTS ops.file_delivery (
    delivery_id       bigserial PRIMARY KEY,
    resource_code     text        NOT NULL,
    path              text        NOT NULL,     -- URI of the file in the landing folder
    size_bytes        bigint      NOT NULL,
    content_sha256    text        NOT NULL,
    modified_at       timestamptz,              -- the landing store's modification time
    format            text,                     -- geojson / csv / excel
    encoding          text,                     -- declared, or detected (utf-8, utf-8-sig, gbk, gb18030)
    status            text        NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'loaded', 'rejected', 'failed')),
    reason            text,                     -- why it was rejected, or why its load failed
    rejected_path     text,                     -- where a rejected file was moved
    load_id           bigint      NOT NULL REFERENCES ops.load_run (load_id),  -- latest load that processed it
    first_load_id     bigint      NOT NULL REFERENCES ops.load_run (load_id),
    attempts          integer     NOT NULL DEFAULT 1,
    first_seen_at     timestamptz NOT NULL DEFAULT now(),
    processed_at      timestamptz,
    ignored_columns   text[],                   -- headers that map to no catalog item (reported, not loaded)
    rows_read         bigint,                   -- rows (features, or cells of a wide sheet) read from the file
    rows_superseded   bigint,                   -- rows replaced by a later delivery in the same run
    rows_inserted     bigint,
    rows_updated      bigint,
    rows_unchanged    bigint,
    rows_quarantined  bigint,
    UNIQUE (resource_code, path, content_sha256),
    -- once loaded, every row read is accounted for
    CONSTRAINT file_delivery_rows_accounted CHECK (
        status <> 'loaded'
        OR rows_read = rows_superseded + rows_inserted + rows_updated + rows_unchanged + rows_quarantined
    )
);
-- Rows of a sheet that are not records (a title above the header, footnotes below the data, a
-- wide row without any value), as "<sheet> row <n>: <cells>": reported, not loaded.
ALTER TABLE ops.file_delivery ADD COLUMN IF NOT EXISTS ignored_rows text[];
CREATE INDEX IF NOT EXISTS file_delivery_load ON ops.file_delivery (load_id);
CREATE INDEX IF NOT EXISTS file_delivery_resource_status ON ops.file_delivery (resource_code, status);

-- Where a quarantined row came from, so quality officers can point the provider at the file and line.
ALTER TABLE ops.quarantine ADD COLUMN IF NOT EXISTS delivery_id bigint REFERENCES ops.file_delivery (delivery_id);
ALTER TABLE ops.quarantine ADD COLUMN IF NOT EXISTS source_ref text;

-- File counts of a run over a file drop (NULL for other sources).
ALTER TABLE ops.load_run ADD COLUMN IF NOT EXISTS files_new integer;
ALTER TABLE ops.load_run ADD COLUMN IF NOT EXISTS files_unchanged integer;
ALTER TABLE ops.load_run ADD COLUMN IF NOT EXISTS files_rejected integer;

-- Files a provider delivered and how many could not be read (an input to provision quality).
ALTER TABLE evaluation.sync_metrics ADD COLUMN IF NOT EXISTS files_delivered integer;
ALTER TABLE evaluation.sync_metrics ADD COLUMN IF NOT EXISTS files_rejected integer;
