//! Who users are, read from the views auth and profiles publish in the core database through the
//! read-only `nexgate_notifier` role (`auth.contact_points`, `profiles.public_cards`,
//! `profiles.active_mutes`, `profiles.blocked_either_way`), cached for a short while: a changed
//! address, name, mute or block takes effect within its TTL.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::Mutex;
use uuid::Uuid;

use nexgate_notifications::Category;

use crate::db::Pool;

const CONTACT_TTL: Duration = Duration::from_secs(60);
const RELATION_TTL: Duration = Duration::from_secs(30);
const CARD_TTL: Duration = Duration::from_secs(300);
/// Entries kept per cache before it is cleared (bounded memory).
const CACHE_MAX: usize = 100_000;

/// A user's verified addresses.
#[derive(Debug, Clone, Default)]
pub struct Contact {
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// How a recipient stands towards an actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Normal,
    /// The recipient muted the actor, with notifications.
    Muted,
    /// Either blocked the other.
    Blocked,
}

/// A user's public card.
#[derive(Debug, Clone, Default)]
pub struct Card {
    pub username: Option<String>,
    pub display_name: Option<String>,
}

/// What the directory says about one recipient.
#[derive(Debug, Clone)]
pub struct Facts {
    pub contact: Contact,
    pub relation: Relation,
}

struct Cache<K, V> {
    ttl: Duration,
    entries: HashMap<K, (Instant, V)>,
}

impl<K: std::hash::Hash + Eq, V: Clone> Cache<K, V> {
    fn new(ttl: Duration) -> Self {
        Cache {
            ttl,
            entries: HashMap::new(),
        }
    }
    fn get(&self, k: &K) -> Option<V> {
        self.entries
            .get(k)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }
    fn put(&mut self, k: K, v: V) {
        if self.entries.len() >= CACHE_MAX {
            self.entries.clear();
        }
        self.entries.insert(k, (Instant::now(), v));
    }
}

pub struct Directory {
    db: Pool,
    contacts: Mutex<Cache<Uuid, Contact>>,
    relations: Mutex<Cache<(Uuid, Uuid), Relation>>,
    cards: Mutex<Cache<Uuid, Option<Card>>>,
}

impl Directory {
    pub fn new(url: &str, connections: usize) -> Self {
        Directory {
            db: Pool::new(url, connections),
            contacts: Mutex::new(Cache::new(CONTACT_TTL)),
            relations: Mutex::new(Cache::new(RELATION_TTL)),
            cards: Mutex::new(Cache::new(CARD_TTL)),
        }
    }

    async fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let mut db = self.db.get().await;
        let result = db.query(sql, params).await;
        if result.is_err() {
            db.reset();
        }
        result
    }

    /// The user's verified email and phone (none when unverified or unknown).
    pub async fn contact(&self, user: Uuid) -> Result<Contact> {
        if let Some(c) = self.contacts.lock().await.get(&user) {
            return Ok(c);
        }
        let rows = self
            .query(
                "SELECT email, phone FROM auth.contact_points WHERE user_id = $1",
                &[&user],
            )
            .await?;
        let c = rows
            .first()
            .map(|r| Contact {
                email: r.get(0),
                phone: r.get(1),
            })
            .unwrap_or_default();
        self.contacts.lock().await.put(user, c.clone());
        Ok(c)
    }

    /// Forgets what is cached about `user` (their addresses, name or blocks just changed).
    pub async fn forget(&self, user: Uuid) {
        self.contacts.lock().await.entries.remove(&user);
        self.cards.lock().await.entries.remove(&user);
        self.relations
            .lock()
            .await
            .entries
            .retain(|(a, b), _| *a != user && *b != user);
    }

    /// Whether `recipient` muted (with notifications) or blocks / is blocked by `actor`.
    pub async fn relation(&self, recipient: Uuid, actor: Uuid) -> Result<Relation> {
        if let Some(r) = self.relations.lock().await.get(&(recipient, actor)) {
            return Ok(r);
        }
        let rows = self
            .query(
                "SELECT EXISTS (SELECT 1 FROM profiles.blocked_either_way WHERE user_a = $1 AND user_b = $2) AS blocked,
                        EXISTS (SELECT 1 FROM profiles.active_mutes WHERE muter_id = $1 AND muted_id = $2 AND notifications) AS muted",
                &[&recipient, &actor],
            )
            .await?;
        let (blocked, muted): (bool, bool) = (rows[0].get(0), rows[0].get(1));
        let r = if blocked {
            Relation::Blocked
        } else if muted {
            Relation::Muted
        } else {
            Relation::Normal
        };
        self.relations.lock().await.put((recipient, actor), r);
        Ok(r)
    }

    /// The user's public card, if they have a profile.
    pub async fn card(&self, user: Uuid) -> Result<Option<Card>> {
        if let Some(c) = self.cards.lock().await.get(&user) {
            return Ok(c);
        }
        let rows = self
            .query(
                "SELECT username, display_name FROM profiles.public_cards WHERE user_id = $1",
                &[&user],
            )
            .await?;
        let c = rows.first().map(|r| Card {
            username: r.get(0),
            display_name: r.get(1),
        });
        self.cards.lock().await.put(user, c.clone());
        Ok(c)
    }
}

impl Directory {
    /// The recipient's addresses, and how they stand towards the actor (not asked for critical
    /// notifications, which mutes and blocks do not silence).
    pub async fn facts(
        &self,
        user: Uuid,
        actor: Option<Uuid>,
        category: Category,
    ) -> Result<Facts> {
        let relation = match actor {
            Some(a) if category != Category::Critical => self.relation(user, a).await?,
            _ => Relation::Normal,
        };
        Ok(Facts {
            contact: self.contact(user).await?,
            relation,
        })
    }
}
