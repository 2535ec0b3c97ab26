-- A public purpose for shop logos and banners (docs/files.md): images only, 15 MiB, like `cover`.
ALTER TABLE files.files DROP CONSTRAINT files_purpose;
ALTER TABLE files.files ADD CONSTRAINT files_purpose
    CHECK (purpose IN ('avatar', 'cover', 'post', 'product', 'event', 'message', 'shop'));
