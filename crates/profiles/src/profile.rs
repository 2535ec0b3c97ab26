//! Profiles: `GET /users/me`, `PATCH /users/me`, `GET /users/{id_or_username}`.

use nexgate_authn::authenticate;
use nexgate_platform::body::{parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::db::{query, transaction};
use nexgate_platform::Problem;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::common::{blocked_either_way, db, json, no_such_user, outbox, resolve};
use crate::display_name;

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

const PROFILE_COLUMNS: &str = "p.user_id, username, display_name, bio, avatar_file_id, cover_file_id, links, \
     shop_id, organizer_id, is_private, followers_count, following_count, message_policy, followers_visible, \
     to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS created_at, \
     v.level AS verification_level";

fn load(conn: &Connection, user_id: Uuid, with_privacy: bool) -> Result<ProfileView, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT {PROFILE_COLUMNS} FROM profiles.profiles p \
             JOIN profiles.verification_levels v ON v.user_id = p.user_id WHERE p.user_id = $1"
        ),
        &[P::Uuid(user_id.to_string())],
    )?;
    if rows.is_empty() {
        return Err(no_such_user());
    }
    Ok(ProfileView {
        id: rows.value(0, "user_id")?,
        username: rows.value(0, "username")?,
        display_name: rows.value(0, "display_name")?,
        bio: rows.value(0, "bio")?,
        avatar_file_id: rows.value(0, "avatar_file_id")?,
        cover_file_id: rows.value(0, "cover_file_id")?,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    display_name: Option<String>,
    bio: Option<String>,
    links: Option<Vec<Link>>,
    is_private: Option<bool>,
    message_policy: Option<String>,
    followers_visible: Option<bool>,
}

/// `PATCH /users/me`: only the fields given change; avatar and cover wait for the File Manager.
pub fn patch_me(req: &Request, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let content_type = req.header("content-type").and_then(|v| v.as_str());
    let body: PatchBody = parse_json(req.body(), content_type, JSON_BODY_BYTES_MAX)?;
    let mut sets: Vec<String> = Vec::new();
    let mut params: Vec<P> = vec![P::Uuid(ctx.user_id.to_string())];
    let mut changed: Vec<&str> = Vec::new();
    let mut push = |column: &'static str, value: P, sets: &mut Vec<String>| {
        params.push(value);
        sets.push(format!("{column} = ${}", params.len()));
        changed.push(column);
    };
    if let Some(d) = &body.display_name {
        let d = display_name::parse(d).map_err(|m| Problem::invalid_field("display_name", m))?;
        push("display_name", P::Str(d), &mut sets);
    }
    if let Some(b) = &body.bio {
        let b = b.trim();
        if b.chars().count() > BIO_CHARS_MAX {
            return Err(Problem::invalid_field(
                "bio",
                "must be at most 300 characters",
            ));
        }
        push("bio", P::Str(b.to_string()), &mut sets);
    }
    if let Some(links) = &body.links {
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
            if !scheme_ok || url.len() > LINK_URL_CHARS_MAX || url.chars().any(char::is_whitespace)
            {
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
        push(
            "links",
            P::Jsonb(serde_json::to_vec(&value).unwrap_or_default()),
            &mut sets,
        );
    }
    if let Some(p) = body.is_private {
        push("is_private", P::Boolean(p), &mut sets);
    }
    if let Some(m) = &body.message_policy {
        if !["everyone", "following", "nobody"].contains(&m.as_str()) {
            return Err(Problem::invalid_field(
                "message_policy",
                "must be everyone, following or nobody",
            ));
        }
        push("message_policy", P::Str(m.clone()), &mut sets);
    }
    if let Some(v) = body.followers_visible {
        push("followers_visible", P::Boolean(v), &mut sets);
    }
    let conn = db()?;
    if sets.is_empty() {
        return Ok(json(200, &load(&conn, ctx.user_id, true)?));
    }
    let mut outbox = outbox(component)?;
    transaction(&conn, |conn| -> Result<(), Problem> {
        let updated = query(
            conn,
            &format!(
                "UPDATE profiles.profiles SET {}, updated_at = now() WHERE user_id = $1 RETURNING user_id",
                sets.join(", ")
            ),
            &params,
        )?;
        if updated.is_empty() {
            return Err(no_such_user());
        }
        outbox.record(
            conn,
            "profiles.profile.updated",
            Some(ctx.user_id),
            ("profile", ctx.user_id.to_string()),
            vec![ctx.user_id],
            json!({ "user_id": ctx.user_id, "fields": changed }),
        )
    })?;
    outbox.publish(&conn);
    Ok(json(200, &load(&conn, ctx.user_id, true)?))
}
