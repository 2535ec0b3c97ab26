//! How every service shows a picture or video from the File Manager's published
//! `files.public_media` view: `{file_id, blurhash, variants: [{name, format, width, height, url}]}`
//! with URLs on the CDN (`cdn_base_url`). One shape for avatars, covers, product images.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::problem::Problem;

/// The CDN base the URLs start with (variable `cdn_base_url`), read once per request.
pub fn cdn_base() -> Result<String, Problem> {
    Ok(crate::config::var("cdn_base_url")
        .map_err(Problem::internal)?
        .trim_end_matches('/')
        .to_string())
}

/// A ready public file as the API shows it, from its `variants` (the view's JSON, as text) and
/// `blurhash`; `None` when the file is absent or not ready.
pub fn view(
    cdn: &str,
    file_id: Option<Uuid>,
    variants: Option<String>,
    blurhash: Option<String>,
) -> Result<Option<Value>, Problem> {
    let (Some(file_id), Some(variants)) = (file_id, variants) else {
        return Ok(None);
    };
    let variants: Vec<Value> = serde_json::from_str(&variants).map_err(Problem::internal)?;
    let variants: Vec<Value> = variants
        .into_iter()
        .map(|v| {
            json!({
                "name": v["name"],
                "format": v["format"],
                "width": v["width"],
                "height": v["height"],
                "url": format!("{cdn}/{}", v["key"].as_str().unwrap_or_default()),
            })
        })
        .collect();
    Ok(Some(
        json!({ "file_id": file_id, "blurhash": blurhash, "variants": variants }),
    ))
}
