//! Profiles: `GET /users/me`, `PATCH /users/me`, `GET /users/{id_or_username}`.

use nexgate_authn::authenticate;
use nexgate_events::catalogue::profiles::{MentionCreated, ProfileUpdated};
use nexgate_platform::body::{parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::db::{query, transaction};
use nexgate_platform::Problem;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::display_name;
use crate::lookup::{blocked_either_way, no_such_user, resolve, SCHEMA};
use nexgate_events::outbox::Outbox;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::open_from_variables as db;

/// Longest bio, in characters.
pub const BIO_CHARS_MAX: usize = 300;
/// Links per profile.
pub const LINKS_MAX: usize = 5;
/// Longest link label and URL.
pub const LINK_LABEL_CHARS_MAX: usize = 30;
pub const LINK_URL_CHARS_MAX: usize = 200;

/// A profile as others see it.
#[derive(Serialize)]
pub struct ProfileView {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub avatar_file_id: Option<Uuid>,
    pub cover_file_id: Option<Uuid>,
    /// The avatar's variants with CDN URLs and its BlurHash (null when none is set, or the file
    /// is gone).
    pub avatar: Option<serde_json::Value>,
    pub cover: Option<serde_json::Value>,
    pub links: serde_json::Value,
    pub shop_id: Option<Uuid>,
    pub organizer_id: Option<Uuid>,
    pub is_private: bool,
    pub followers_count: i32,
    pub following_count: i32,
    pub created_at: String,
    /// `none`, `contact`, `identity` or `business`.
    pub verification_level: String,
    /// Only on `GET /users/me`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy: Option<Privacy>,
}

#[derive(Serialize)]
pub struct Privacy {
    pub message_policy: String,
    pub followers_visible: bool,
}

fn profile_columns() -> String {
    format!(
        "p.user_id, username, display_name, bio, avatar_file_id, cover_file_id, links, \
         shop_id, organizer_id, is_private, followers_count, following_count, message_policy, \
         followers_visible, {}, v.level AS verification_level, \
         a.variants::text AS avatar_variants, a.blurhash AS avatar_blurhash, \
         c.variants::text AS cover_variants, c.blurhash AS cover_blurhash",
        nexgate_platform::db::ts("created_at")
    )
}

fn load(conn: &Connection, user_id: Uuid, with_privacy: bool) -> Result<ProfileView, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT {} FROM profiles.profiles p \
             JOIN profiles.verification_levels v ON v.user_id = p.user_id \
             LEFT JOIN files.public_media a ON a.file_id = p.avatar_file_id AND a.owner_id = p.user_id \
             LEFT JOIN files.public_media c ON c.file_id = p.cover_file_id AND c.owner_id = p.user_id \
             WHERE p.user_id = $1",
            profile_columns()
        ),
        &[P::Uuid(user_id.to_string())],
    )?;
    if rows.is_empty() {
        return Err(no_such_user());
    }
    let cdn = cdn_base()?;
    Ok(ProfileView {
        id: rows.value(0, "user_id")?,
        username: rows.value(0, "username")?,
        display_name: rows.value(0, "display_name")?,
        bio: rows.value(0, "bio")?,
        avatar_file_id: rows.value(0, "avatar_file_id")?,
        cover_file_id: rows.value(0, "cover_file_id")?,
        avatar: media(
            &cdn,
            rows.value(0, "avatar_file_id")?,
            rows.value(0, "avatar_variants")?,
            rows.value(0, "avatar_blurhash")?,
        )?,
        cover: media(
            &cdn,
            rows.value(0, "cover_file_id")?,
            rows.value(0, "cover_variants")?,
            rows.value(0, "cover_blurhash")?,
        )?,
        links: rows.value(0, "links")?,
        shop_id: rows.value(0, "shop_id")?,
        organizer_id: rows.value(0, "organizer_id")?,
        is_private: rows.value(0, "is_private")?,
        followers_count: rows.value(0, "followers_count")?,
        following_count: rows.value(0, "following_count")?,
        created_at: rows.value(0, "created_at")?,
        verification_level: rows.value(0, "verification_level")?,
        privacy: if with_privacy {
            Some(Privacy {
                message_policy: rows.value(0, "message_policy")?,
                followers_visible: rows.value(0, "followers_visible")?,
            })
        } else {
            None
        },
    })
}

/// The columns a request changes, as `column = $n` (`$1` is the user) with their values.
struct ProfileChanges {
    user: Uuid,
    sets: Vec<String>,
    params: Vec<P>,
    changed: Vec<&'static str>,
    /// Users a new bio mentions (announced with the change).
    mentioned: Vec<Uuid>,
}

impl ProfileChanges {
    fn of(user: Uuid) -> Self {
        Self {
            user,
            sets: Vec::new(),
            params: vec![P::Uuid(user.to_string())],
            changed: Vec::new(),
            mentioned: Vec::new(),
        }
    }

    fn set(&mut self, column: &'static str, value: P) {
        self.params.push(value);
        self.sets.push(format!("{column} = ${}", self.params.len()));
        self.changed.push(column);
    }

    fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

/// Applies the changes and records `profiles.profile.updated` naming the changed columns, in
/// one transaction.
fn update_profile(
    conn: &Connection,
    component: &str,
    actor: Option<Uuid>,
    changes: &ProfileChanges,
) -> Result<(), Problem> {
    let (user, sets, params, changed) = (
        changes.user,
        &changes.sets,
        &changes.params,
        &changes.changed,
    );
    let mut outbox = Outbox::new(SCHEMA, component)?;
    transaction(conn, |conn| -> Result<(), Problem> {
        let updated = query(
            conn,
            &format!(
                "UPDATE profiles.profiles SET {}, updated_at = now() WHERE user_id = $1 RETURNING user_id",
                sets.join(", ")
            ),
            params,
        )?;
        if updated.is_empty() {
            return Err(no_such_user());
        }
        outbox.record(
            conn,
            actor,
            ("profile", user.to_string()),
            vec![user],
            &ProfileUpdated {
                user_id: user,
                fields: changed.iter().map(|f| f.to_string()).collect(),
            },
        )?;
        for mentioned in &changes.mentioned {
            outbox.record(
                conn,
                Some(user),
                ("profile", user.to_string()),
                vec![*mentioned],
                &MentionCreated {
                    mentioned_id: *mentioned,
                    mentioner_id: user,
                    context: "bio".to_string(),
                },
            )?;
        }
        Ok(())
    })?;
    outbox.publish(conn);
    Ok(())
}

/// The CDN base the pictures' URLs start with (the kit's one reader).
pub(crate) use nexgate_platform::public_media::cdn_base;
/// A picture as profiles show it (the kit's one shape for public media).
pub(crate) use nexgate_platform::public_media::view as media;

/// `GET /users/me`.
pub fn get_me(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    Ok(json(200, &load(&conn, ctx.user_id, true)?))
}

/// `GET /users/{id_or_username}`: 404 when it does not exist or a block stands either way.
pub fn get_user(req: &Request, id_or_username: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let target = resolve(&conn, id_or_username)?;
    if target != ctx.user_id && blocked_either_way(&conn, ctx.user_id, target)? {
        return Err(no_such_user());
    }
    Ok(json(200, &load(&conn, target, target == ctx.user_id)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Link {
    label: String,
    url: String,
}

/// Tells a field set to `null` (`Some(None)`) from a field left out (`None`).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    display_name: Option<String>,
    /// A file uploaded with purpose `avatar`; `null` removes the avatar.
    #[serde(default, deserialize_with = "nullable")]
    avatar_file_id: Option<Option<Uuid>>,
    /// A file uploaded with purpose `cover`; `null` removes the cover.
    #[serde(default, deserialize_with = "nullable")]
    cover_file_id: Option<Option<Uuid>>,
    bio: Option<String>,
    links: Option<Vec<Link>>,
    is_private: Option<bool>,
    message_policy: Option<String>,
    followers_visible: Option<bool>,
}

/// Asks the File Manager to mark `file` as this profile's `kind` (`avatar` or `cover`); its answer
/// becomes a 422 naming the field when the file is not the user's, not of that purpose, or failed.
async fn attach_picture(user: Uuid, kind: &str, file: Uuid) -> Result<(), Problem> {
    let field = format!("{kind}_file_id");
    let answer = files_call(
        "attach",
        json!({ "file_id": file, "owner_id": user, "service": "profiles", "object_type": kind,
                "object_id": user.to_string(), "purpose": kind }),
    )
    .await?;
    match answer.0 {
        200 => Ok(()),
        404 => Err(Problem::invalid_field(field, "no such file")),
        403 => Err(Problem::invalid_field(field, "the file is someone else's")),
        409 | 422 => Err(Problem::invalid_field(
            field,
            answer.1["detail"]
                .as_str()
                .unwrap_or("the File Manager refused the file")
                .to_string(),
        )),
        s => Err(Problem::internal(format!("files attach answered {s}"))),
    }
}

/// `POST /internal/files/<what>` on the File Manager's internal component (the kit's internal
/// call: `files_internal_token`, granted in `spin.toml`): (status, JSON).
async fn files_call(
    what: &str,
    body: serde_json::Value,
) -> Result<(u16, serde_json::Value), Problem> {
    let path = format!("/internal/files/{what}");
    nexgate_platform::internal::call("files", spin_sdk::http::Method::Post, &path, &body, None)
        .await
        .map_err(|p| {
            if p.status == 503 {
                Problem::unavailable("the File Manager")
            } else {
                p
            }
        })
}

/// `PATCH /users/me`: only the fields given change. Avatar and cover are files uploaded with
/// that purpose; the File Manager checks they are the user's and records that the profile uses
/// them (the replaced one is detached, so its cleanup can take it).
pub async fn patch_me(req: &Request, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let content_type = req.header("content-type").and_then(|v| v.as_str());
    let body: PatchBody = parse_json(req.body(), content_type, JSON_BODY_BYTES_MAX)?;
    let mut changes = body.checked_changes(ctx.user_id)?;
    let pictures = [
        ("avatar", "avatar_file_id", body.avatar_file_id),
        ("cover", "cover_file_id", body.cover_file_id),
    ];
    for (kind, column, value) in pictures {
        if let Some(value) = value {
            if let Some(file) = value {
                attach_picture(ctx.user_id, kind, file).await?;
            }
            changes.set(
                column,
                value.map(|f| P::Uuid(f.to_string())).unwrap_or(P::DbNull),
            );
        }
    }
    let conn = db()?;
    let before = query(
        &conn,
        "SELECT avatar_file_id, cover_file_id, bio FROM profiles.profiles WHERE user_id = $1",
        &[P::Uuid(ctx.user_id.to_string())],
    )?;
    if before.is_empty() {
        return Err(no_such_user());
    }
    if changes.is_empty() {
        return Ok(json(200, &load(&conn, ctx.user_id, true)?));
    }
    if let Some(bio) = &body.bio {
        changes.mentioned =
            new_mentions(&conn, ctx.user_id, &before.value::<String>(0, "bio")?, bio)?;
    }
    update_profile(&conn, component, Some(ctx.user_id), &changes)?;
    // The pictures replaced are no longer used by the profile (best effort: a failure only
    // keeps an old file a little longer).
    for (kind, column, now) in [
        ("avatar", "avatar_file_id", &body.avatar_file_id),
        ("cover", "cover_file_id", &body.cover_file_id),
    ] {
        let previous: Option<Uuid> = before.value(0, column)?;
        if let (Some(previous), Some(now)) = (previous, now) {
            if *now != Some(previous) {
                let _ = files_call(
                    "detach",
                    json!({ "file_id": previous, "service": "profiles", "object_type": kind,
                            "object_id": ctx.user_id.to_string() }),
                )
                .await;
            }
        }
    }
    Ok(json(200, &load(&conn, ctx.user_id, true)?))
}

/// The users a new bio mentions that the old one did not: existing, not the author, neither
/// blocked nor blocking (at most [`nexgate_names::mentions::MENTIONS_PER_TEXT_MAX`]).
fn new_mentions(
    conn: &Connection,
    author: Uuid,
    old_bio: &str,
    new_bio: &str,
) -> Result<Vec<Uuid>, Problem> {
    use nexgate_names::mentions::mentioned_usernames;
    let before = mentioned_usernames(old_bio);
    let fresh: Vec<Option<String>> = mentioned_usernames(new_bio)
        .into_iter()
        .filter(|name| !before.contains(name))
        .map(Some)
        .collect();
    if fresh.is_empty() {
        return Ok(Vec::new());
    }
    let rows = query(
        conn,
        "SELECT p.user_id FROM profiles.profiles p \
         WHERE lower(p.username) = ANY($1) AND p.user_id <> $2 \
           AND NOT EXISTS (SELECT 1 FROM profiles.blocks b \
                 WHERE (b.blocker_id = $2 AND b.blocked_id = p.user_id) \
                    OR (b.blocker_id = p.user_id AND b.blocked_id = $2))",
        &[P::ArrayStr(fresh), P::Uuid(author.to_string())],
    )?;
    (0..rows.len()).map(|i| rows.value(i, "user_id")).collect()
}

impl PatchBody {
    /// The changes to the profile's own fields (not the pictures), each checked: a 422 names
    /// the first field that is wrong.
    fn checked_changes(&self, user: Uuid) -> Result<ProfileChanges, Problem> {
        let mut changes = ProfileChanges::of(user);
        if let Some(d) = &self.display_name {
            let d =
                display_name::parse(d).map_err(|m| Problem::invalid_field("display_name", m))?;
            changes.set("display_name", P::Str(d));
        }
        if let Some(b) = &self.bio {
            let b = b.trim();
            if b.chars().count() > BIO_CHARS_MAX {
                return Err(Problem::invalid_field(
                    "bio",
                    "must be at most 300 characters",
                ));
            }
            changes.set("bio", P::Str(b.to_string()));
        }
        if let Some(links) = &self.links {
            changes.set("links", checked_links(links)?);
        }
        if let Some(p) = self.is_private {
            changes.set("is_private", P::Boolean(p));
        }
        if let Some(m) = &self.message_policy {
            if !["everyone", "following", "nobody"].contains(&m.as_str()) {
                return Err(Problem::invalid_field(
                    "message_policy",
                    "must be everyone, following or nobody",
                ));
            }
            changes.set("message_policy", P::Str(m.clone()));
        }
        if let Some(v) = self.followers_visible {
            changes.set("followers_visible", P::Boolean(v));
        }
        Ok(changes)
    }
}

/// The profile's links, trimmed, as stored: at most 5, each a 1–30 character label and an
/// http(s) URL of at most 200 characters.
fn checked_links(links: &[Link]) -> Result<P, Problem> {
    if links.len() > LINKS_MAX {
        return Err(Problem::invalid_field("links", "at most 5 links"));
    }
    for (i, l) in links.iter().enumerate() {
        let label = l.label.trim();
        if label.is_empty() || label.chars().count() > LINK_LABEL_CHARS_MAX {
            return Err(Problem::invalid_field(
                format!("links[{i}].label"),
                "must be 1 to 30 characters",
            ));
        }
        let url = l.url.trim();
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || url.len() > LINK_URL_CHARS_MAX || url.chars().any(char::is_whitespace) {
            return Err(Problem::invalid_field(
                format!("links[{i}].url"),
                "must be an http(s) URL of at most 200 characters",
            ));
        }
    }
    let value = json!(links
        .iter()
        .map(|l| json!({ "label": l.label.trim(), "url": l.url.trim() }))
        .collect::<Vec<_>>());
    Ok(P::Jsonb(serde_json::to_vec(&value).unwrap_or_default()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinksBody {
    #[serde(default, deserialize_with = "nullable")]
    shop_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    organizer_id: Option<Option<Uuid>>,
}

/// `PUT /internal/profiles/users/{id}/links` (`profiles_internal_token`): the shop and events
/// services record the user's shop and organizer page (`null` unlinks); only the fields given
/// change. Answers the profile.
pub fn set_links(req: &Request, user: &str, component: &str) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let user = nexgate_platform::ids::parse_id("id", user)?;
    let body: LinksBody = parse_json(
        req.body(),
        req.header("content-type").and_then(|v| v.as_str()),
        JSON_BODY_BYTES_MAX,
    )?;
    let mut changes = ProfileChanges::of(user);
    for (column, value) in [
        ("shop_id", body.shop_id),
        ("organizer_id", body.organizer_id),
    ] {
        if let Some(value) = value {
            changes.set(
                column,
                value.map(|v| P::Uuid(v.to_string())).unwrap_or(P::DbNull),
            );
        }
    }
    if changes.is_empty() {
        return Err(Problem::bad_request("give shop_id and/or organizer_id"));
    }
    let conn = db()?;
    update_profile(&conn, component, None, &changes)?;
    Ok(json(200, &load(&conn, user, false)?))
}
