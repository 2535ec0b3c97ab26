-- A private purpose for business documents sent for seller verification (docs/files.md,
-- docs/commerce.md "Seller verification"): images only, 15 MiB, never a public URL.
ALTER TABLE files.files DROP CONSTRAINT files_purpose;
ALTER TABLE files.files ADD CONSTRAINT files_purpose
    CHECK (purpose IN ('avatar', 'cover', 'post', 'product', 'event', 'message', 'shop', 'document'));
