//! The event types of the File Manager (docs/files.md): `files.*`.

use uuid::Uuid;

event_types! {
    producer: "files";

    FileReady {
        name: "files.file.ready",
        version: 1,
        secret: false,
        description: "A file finished processing: its variants (and for a video its renditions and poster) are in storage. Also sent again when the media worker adds WebP variants to an image. Audience: the owner.",
        data: {
            file_id: Uuid = "string (uuid)",
            owner_id: Uuid = "string (uuid)",
            purpose: String = "string: avatar, cover, post, product, event or message",
            kind: String = "string: image or video",
        }
    }

    FileFailed {
        name: "files.file.failed",
        version: 1,
        secret: false,
        description: "A file could not be processed (corrupt or hostile input, over a limit found only while processing, such as a video's duration). Audience: the owner.",
        data: {
            file_id: Uuid = "string (uuid)",
            owner_id: Uuid = "string (uuid)",
            purpose: String = "string",
            reason: String = "string: why, fit to show the user",
        }
    }

    MediaJobRequested {
        name: "files.media_job.requested",
        version: 2,
        secret: false,
        description: "Work for the native media worker (consumed from its own queue, not by the dispatcher): transcode an uploaded video, or add WebP variants to a processed image. Names the job only: the worker reads what to do from GET /internal/files/jobs/{job_id}, never buckets or keys from the bus. Audience: none.",
        data: {
            job: String = "string: transcode_video or webp_variants",
            job_id: Uuid = "string (uuid): the job, as the File Manager keeps it",
            file_id: Uuid = "string (uuid): the job's file",
            owner_id: Uuid = "string (uuid)",
        }
    }
}
