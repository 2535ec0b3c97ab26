//! Media messages and shared cards (docs/dm.md, "Media and cards").
//!
//! A message's media are the sender's own private `message` files, attached by the File Manager
//! to the conversation (`/internal/files/attach` checks they are the sender's, of that purpose,
//! and not failed). Reading a page of messages asks the File Manager once per 50 files for their
//! metadata and short-lived signed URLs (`/internal/files/attached`): the attachment to this very
//! conversation is the ownership check, and the DM service has already checked the reader is a
//! member who may see those messages. A shared card names a product, event, post or profile and
//! is rendered live at read time by `dm.live_card` from its owner's published view.

use std::collections::HashMap;

use nexgate_platform::attachments::{attach, Attachment};
use nexgate_platform::db::query;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// Media per message.
pub const MEDIA_MAX: usize = 10;
/// How long the signed URLs of a page of messages last.
pub const URL_TTL_SECS: u32 = 300;

/// A shared object: `{kind: product|event|post|profile, id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Card {
    pub kind: String,
    pub id: Uuid,
}

/// The `media` (file ids) and `card` (rendered live for `viewer`) members of a message `msg`'s
/// JSON: the same in history pages, sync and the gateway.
pub fn media_and_card_sql(viewer: &str) -> String {
    format!(
        "'media', CASE WHEN msg.unsent_at IS NULL THEN to_jsonb(msg.media) ELSE '[]'::jsonb END,
         'card', CASE WHEN msg.card_kind IS NULL OR msg.unsent_at IS NOT NULL THEN NULL
                 ELSE coalesce(dm.live_card({viewer}, msg.card_kind, msg.card_id),
                               jsonb_build_object('kind', msg.card_kind, 'id', msg.card_id,
                                                  'unavailable', true)) END"
    )
}

/// 422 unless `card` names an object the sender may see now.
pub fn check_card(conn: &Connection, sender: Uuid, card: &Card) -> Result<(), Problem> {
    if !matches!(card.kind.as_str(), "product" | "event" | "post" | "profile") {
        return Err(Problem::invalid_field(
            "card.kind",
            "must be product, event, post or profile",
        ));
    }
    let seen: bool = query(
        conn,
        "SELECT dm.live_card($1, $2, $3) IS NOT NULL AS seen",
        &[
            P::Uuid(sender.to_string()),
            P::Str(card.kind.clone()),
            P::Uuid(card.id.to_string()),
        ],
    )?
    .value(0, "seen")?;
    if seen {
        Ok(())
    } else {
        Err(Problem::invalid_field(
            "card.id",
            format!("no such {} you can share", card.kind),
        ))
    }
}

/// 422 naming `media_ids` for too many or repeated ids.
pub fn check_media(ids: &[Uuid]) -> Result<(), Problem> {
    let mut unique = ids.to_vec();
    unique.sort();
    unique.dedup();
    if ids.len() > MEDIA_MAX || unique.len() != ids.len() {
        return Err(Problem::invalid_field(
            "media_ids",
            format!("up to {MEDIA_MAX} distinct files"),
        ));
    }
    Ok(())
}

/// Attaches the sender's files to the conversation; a 422 naming `media_ids[i]` for one that is
/// not theirs, not a `message` file, or failed. Attaching is idempotent (a retried send, or a
/// file sent twice in one conversation).
pub async fn attach_all(sender: Uuid, conversation: Uuid, ids: &[Uuid]) -> Result<(), Problem> {
    for (i, file) in ids.iter().enumerate() {
        let a = Attachment {
            service: crate::SCHEMA,
            owner: sender,
            object: ("conversation", conversation),
            file: *file,
            purpose: "message",
        };
        attach(&a, &format!("media_ids[{i}]")).await?;
    }
    Ok(())
}

/// The files of `ids` attached to the conversation, as the File Manager describes them (with
/// signed URLs valid `ttl_secs`); ids not attached there are absent.
async fn attached(
    conversation: Uuid,
    ids: &[String],
    ttl_secs: u32,
) -> Result<Vec<Value>, Problem> {
    let body = json!({"service": crate::SCHEMA, "object_type": "conversation",
                      "object_id": conversation.to_string(), "file_ids": ids,
                      "expires_in_secs": ttl_secs});
    let (status, answer) = nexgate_platform::internal::call(
        "files",
        spin_sdk::http::Method::Post,
        "/internal/files/attached",
        &body,
        None,
    )
    .await?;
    if status != 200 {
        return Err(Problem::internal(format!(
            "files attached answered {status}: {answer}"
        )));
    }
    Ok(answer["items"].as_array().cloned().unwrap_or_default())
}

/// 422 naming `media_ids[i]` for a file that is not ready yet (a video still transcoding): a
/// message shows only what its members can open. Asked of the File Manager after attaching, so
/// the answer is about exactly the files attached to this conversation.
pub async fn ensure_ready(conversation: Uuid, ids: &[Uuid]) -> Result<(), Problem> {
    if ids.is_empty() {
        return Ok(());
    }
    let wanted: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let ready: Vec<String> = attached(conversation, &wanted, URL_TTL_SECS)
        .await?
        .iter()
        .filter(|f| f["status"] == "ready")
        .filter_map(|f| f["file_id"].as_str().map(str::to_string))
        .collect();
    match ids.iter().position(|id| !ready.contains(&id.to_string())) {
        None => Ok(()),
        Some(i) => Err(Problem::invalid_field(
            format!("media_ids[{i}]"),
            "the file is not ready yet; send it once it is",
        )),
    }
}

/// Replaces each message's `media` ids with the files' metadata and signed URLs (`url` is null
/// until a file is ready; a file the File Manager no longer has shows `status: "gone"`).
pub async fn hydrate(conversation: Uuid, items: &mut [Value]) -> Result<(), Problem> {
    let ids: Vec<String> = items
        .iter()
        .flat_map(|m| m["media"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let mut found: HashMap<String, Value> = HashMap::new();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    for chunk in unique.chunks(50) {
        for item in attached(conversation, chunk, URL_TTL_SECS).await? {
            if let Some(id) = item["file_id"].as_str() {
                let mut file = item.clone();
                if let Some(f) = file.as_object_mut() {
                    f.remove("owner_id");
                }
                found.insert(id.to_string(), file);
            }
        }
    }
    for message in items.iter_mut() {
        let Some(media) = message["media"].as_array() else {
            continue;
        };
        let hydrated: Vec<Value> = media
            .iter()
            .filter_map(|v| v.as_str())
            .map(|id| {
                found
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| json!({"file_id": id, "status": "gone"}))
            })
            .collect();
        message["media"] = Value::Array(hydrated);
    }
    Ok(())
}

/// Detaches an unsent message's files from the conversation unless another message there still
/// shows them (best effort: a failure leaves the file attached, still shown by no message).
pub async fn detach_unsent(conn: &Connection, conversation: Uuid, ids: &[Uuid]) {
    for file in ids {
        let still_shown = query(
            conn,
            "SELECT 1 FROM dm.messages WHERE conversation_id = $1 AND $2 = ANY(media) AND unsent_at IS NULL LIMIT 1",
            &[P::Uuid(conversation.to_string()), P::Uuid(file.to_string())],
        )
        .map(|r| !r.is_empty())
        .unwrap_or(true);
        if !still_shown {
            let _ = nexgate_platform::attachments::detach(
                crate::SCHEMA,
                ("conversation", conversation),
                *file,
            )
            .await;
        }
    }
}
