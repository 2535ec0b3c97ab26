//! Product images through the File Manager (docs/files.md, "Attaching"): each image is a file the
//! seller uploaded with purpose `product`, attached to the product by `/internal/files/attach`
//! (which checks it is theirs and of that purpose), by Spin's local service chaining with
//! `files_internal_token`. Images are shown from the File Manager's published `files.public_media`.

use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::Method;
use uuid::Uuid;

/// At most this many images per product.
pub const IMAGES_MAX: usize = 10;

/// Attaches `file` (the seller's, purpose `product`) to `product`; a 422 naming `field` when the
/// File Manager refuses it.
pub async fn attach_image(
    seller: Uuid,
    product: Uuid,
    file: Uuid,
    field: &str,
) -> Result<(), Problem> {
    let body = json!({ "file_id": file, "owner_id": seller, "service": "commerce",
                       "object_type": "product", "object_id": product.to_string(), "purpose": "product" });
    let (status, answer) = nexgate_platform::internal::call(
        "files",
        Method::Post,
        "/internal/files/attach",
        &body,
        None,
    )
    .await?;
    match status {
        200 => Ok(()),
        404 => Err(Problem::invalid_field(field, "no such file")),
        403 => Err(Problem::invalid_field(field, "the file is someone else's")),
        409 | 422 => Err(Problem::invalid_field(
            field,
            answer["detail"]
                .as_str()
                .unwrap_or("the File Manager refused the file")
                .to_string(),
        )),
        s => Err(Problem::internal(format!(
            "files attach answered {s}: {answer}"
        ))),
    }
}
