//! Answering first, finishing after: a handler that has committed what the client needs can send
//! the response at once and do the rest (publishing its events) while the client already has its
//! answer. This is `wasi:http`'s own model, documented by spin-sdk ("Send a response then continue
//! processing"): the response goes out when the out-param is set and its body closed; the instance
//! lives until the handler returns. Spin and our host behave the same.
//!
//! Safe for work the outbox already guarantees: if the instance dies before `after` ends, the
//! relay publishes what was recorded (docs/events.md, "Transport").

use std::future::Future;

use futures::SinkExt;
use spin_sdk::http::conversions::TryFromIncomingRequest;
use spin_sdk::http::{
    Fields, IncomingRequest, OutgoingResponse, Request, Response, ResponseOutparam,
};

/// The request of a handler that takes the out-param itself (a 400 problem when its body cannot
/// be read).
pub async fn read_request(incoming: IncomingRequest) -> Result<Request, Response> {
    Request::try_from_incoming_request(incoming)
        .await
        .map_err(|e| {
            crate::Problem::bad_request(format!("the request could not be read: {e}"))
                .into_response()
        })
}

/// Sends `response` now, then runs `after`.
pub async fn respond_then(
    out: ResponseOutparam,
    response: Response,
    after: impl Future<Output = ()>,
) {
    let headers: Vec<(String, Vec<u8>)> = response
        .headers()
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect();
    let outgoing =
        OutgoingResponse::new(Fields::from_list(&headers).unwrap_or_else(|_| Fields::new()));
    let _ = outgoing.set_status_code(*response.status());
    let mut body = outgoing.take_body();
    out.set(outgoing);
    let bytes = response.into_body();
    if !bytes.is_empty() {
        let _ = body.send(bytes).await;
    }
    let _ = body.flush().await;
    let _ = body.close().await;
    drop(body);
    after.await;
}
