//! Pictures through the File Manager (docs/files.md, "Attaching"): product images are files the
//! seller uploaded with purpose `product`, review photos files the buyer uploaded with purpose
//! `post`; each is attached to its object by `/internal/files/attach` (which checks it is theirs
//! and of that purpose), by Spin's local service chaining with `files_internal_token`. They are
//! shown from the File Manager's published `files.public_media`.

use nexgate_platform::Problem;
use uuid::Uuid;

/// At most this many images per product.
pub const IMAGES_MAX: usize = 10;

/// At most this many photos per review.
pub const REVIEW_PHOTOS_MAX: usize = 4;

/// The file ids a request names in `field`: at most `max`, each once (a 422 naming the entry).
pub fn file_ids(field: &str, raw: &[String], max: usize) -> Result<Vec<Uuid>, Problem> {
    if raw.len() > max {
        return Err(Problem::invalid_field(
            field,
            format!("give at most {max} files"),
        ));
    }
    let mut ids: Vec<Uuid> = Vec::with_capacity(raw.len());
    for (i, text) in raw.iter().enumerate() {
        let id = nexgate_platform::ids::parse_id(&format!("{field}[{i}]"), text)?;
        if ids.contains(&id) {
            return Err(Problem::invalid_field(
                format!("{field}[{i}]"),
                "repeats an earlier file",
            ));
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Attaches `file` (the seller's, purpose `product`) to `product`; a 422 naming `field` when the
/// File Manager refuses it.
pub async fn attach_image(
    seller: Uuid,
    product: Uuid,
    file: Uuid,
    field: &str,
) -> Result<(), Problem> {
    attach(seller, ("product", product), file, "product", field).await
}

/// Attaches `file` (the owner's, purpose `shop`) to `shop` as its logo or banner.
pub async fn attach_shop_picture(
    owner: Uuid,
    shop: Uuid,
    file: Uuid,
    field: &str,
) -> Result<(), Problem> {
    attach(owner, ("shop", shop), file, "shop", field).await
}

/// Attaches `file` (the owner's, private purpose `document`) to a seller verification request.
pub async fn attach_document(
    owner: Uuid,
    request: Uuid,
    file: Uuid,
    field: &str,
) -> Result<(), Problem> {
    attach(
        owner,
        ("verification_request", request),
        file,
        "document",
        field,
    )
    .await
}

/// Attaches `file` (the buyer's, purpose `post`) to `review`.
pub async fn attach_review_photo(
    buyer: Uuid,
    review: Uuid,
    file: Uuid,
    field: &str,
) -> Result<(), Problem> {
    attach(buyer, ("review", review), file, "post", field).await
}

async fn attach(
    owner: Uuid,
    object: (&str, Uuid),
    file: Uuid,
    purpose: &str,
    field: &str,
) -> Result<(), Problem> {
    let attachment = nexgate_platform::attachments::Attachment {
        service: "commerce",
        owner,
        object,
        file,
        purpose,
    };
    nexgate_platform::attachments::attach(&attachment, field).await
}
