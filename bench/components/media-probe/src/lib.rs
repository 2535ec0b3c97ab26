//! `POST /bench/image`: runs the File Manager's image pipeline (decode, orient, resize ladder,
//! encode, BlurHash) on the body and answers the variant count; the in-wasm side of the image
//! benchmark (bench/files.sh), beside `nexgate-bench-media process` natively.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Response {
    match nexgate_media::image_pipeline::process(req.body()) {
        Ok(out) => Response::new(200, out.variants.len().to_string()),
        Err(e) => Response::new(422, e.to_string()),
    }
}
