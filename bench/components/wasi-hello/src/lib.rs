//! Benchmark fixture: the same "hello" as `tests/fixtures/hello`, written with the wasi:http types
//! directly (spin-sdk's two-argument handler), so `bench/run.sh` can tell the guest's request
//! conversion apart from the host's own cost.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use spin_sdk::http::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
fn handle(_req: IncomingRequest, out: ResponseOutparam) {
    let headers = Fields::from_list(&[
        ("content-type".to_string(), b"text/plain".to_vec()),
        ("content-length".to_string(), b"5".to_vec()),
    ])
    .expect("valid headers");
    let response = OutgoingResponse::new(headers);
    let body = response.body().expect("a fresh response has a body");
    out.set(response);
    let stream = body.write().expect("a fresh body has a stream");
    stream
        .blocking_write_and_flush(b"hello")
        .expect("the body takes five bytes");
    drop(stream);
    OutgoingBody::finish(body, None).expect("the body is complete");
}
