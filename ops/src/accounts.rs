//! Operator commands for accounts: signing keys for access tokens and roles.
//!
//! - `jwt-keygen` makes the Ed25519 key pair of access tokens once (kept when present): a private
//!   JWK for auth's issuing components (`jwt_private_key`) and the public JWKS everyone verifies
//!   with (`jwt_public_keys`);
//! - `seal-keygen` makes the notifier's sealing key pair once (kept when present): the private key
//!   for the notifier only, the public key (`notifier_public_key`) for the producers of one-time
//!   secrets (nexgate_events::sealed);
//! - `grant-role` / `revoke-role` are the only way to give or take a role (`operator`): the
//!   public API has none. The change shows in the user's next token (login or refresh).

use std::path::Path;

use anyhow::{bail, Context, Result};
use nexgate_authn::jwt::{Jwks, TokenSigner};
use uuid::Uuid;

/// File names inside the key folder.
pub const PRIVATE_KEY_FILE: &str = "jwt-private.jwk";
pub const PUBLIC_KEYS_FILE: &str = "jwt-public.jwks";

/// Roles the platform knows (the `account_roles_known` constraint).
pub const ROLES: &[&str] = &["operator"];

/// Creates the key pair in `dir` unless it is there already; returns whether it was created.
pub fn jwt_keygen(dir: &Path) -> Result<bool> {
    let private = dir.join(PRIVATE_KEY_FILE);
    let public = dir.join(PUBLIC_KEYS_FILE);
    if private.exists() && public.exists() {
        TokenSigner::from_jwk_json(&std::fs::read_to_string(&private)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", private.display()))?;
        return Ok(false);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("randomness: {e}"))?;
    let kid = format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%d"),
        &Uuid::new_v4().simple().to_string()[..8]
    );
    let signer = TokenSigner::from_secret_bytes(&kid, &secret);
    let jwks = Jwks {
        keys: vec![signer.public_jwk()],
    };
    write_private(&private, &serde_json::to_string(&signer.private_jwk())?)?;
    std::fs::write(&public, serde_json::to_string(&jwks)?)?;
    Ok(true)
}

/// File names of the ticket signing key (docs/ticketing.md) inside the key folder.
pub const TICKET_KEY_FILE: &str = "ticket-signing.pem";
pub const TICKET_KEY_ID_FILE: &str = "ticket-signing.kid";
pub const TICKET_PUBLIC_KEYS_FILE: &str = "ticket-public.jwks";

/// Creates the RSA-2048 ticket signing key (PKCS#8 PEM), its id and the public JWKS in `dir`
/// unless they are there; returns whether they were created.
pub fn ticket_keygen(dir: &Path) -> Result<bool> {
    let (key, kid, public) = (
        dir.join(TICKET_KEY_FILE),
        dir.join(TICKET_KEY_ID_FILE),
        dir.join(TICKET_PUBLIC_KEYS_FILE),
    );
    if key.exists() && kid.exists() && public.exists() {
        nexgate_ticketing::qr::TicketSigner::from_pkcs8_pem(
            &std::fs::read_to_string(&key)?,
            std::fs::read_to_string(&kid)?.trim(),
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?;
        return Ok(false);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut id = [0u8; 4];
    getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("randomness: {e}"))?;
    let key_id = format!("{:08x}", u32::from_be_bytes(id));
    let (pem, jwk) = nexgate_ticketing::qr::new_key(&key_id).map_err(|e| anyhow::anyhow!("{e}"))?;
    write_private(&key, &pem)?;
    std::fs::write(&kid, &key_id)?;
    std::fs::write(&public, serde_json::json!({ "keys": [jwk] }).to_string())?;
    Ok(true)
}

/// File names of the notifier's sealing key pair inside the key folder.
pub const SEAL_PRIVATE_KEY_FILE: &str = "notifier-seal.key";
pub const SEAL_PUBLIC_KEY_FILE: &str = "notifier-seal.pub";

/// Creates the notifier's sealing key pair in `dir` unless it is there; returns whether it was.
pub fn seal_keygen(dir: &Path) -> Result<bool> {
    let private = dir.join(SEAL_PRIVATE_KEY_FILE);
    let public = dir.join(SEAL_PUBLIC_KEY_FILE);
    if private.exists() && public.exists() {
        nexgate_events::sealed::OpeningKeys::parse(&std::fs::read_to_string(&private)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", private.display()))?;
        return Ok(false);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (private_key, public_key) = nexgate_events::sealed::generate_key_pair();
    write_private(&private, &private_key)?;
    std::fs::write(&public, public_key)?;
    Ok(true)
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text)?;
    Ok(())
}

/// Grants (or with `grant = false` revokes) a role, as the administrator.
pub async fn set_role(
    database_url: &str,
    user: Uuid,
    role: &str,
    by: &str,
    grant: bool,
) -> Result<()> {
    if !ROLES.contains(&role) {
        bail!("unknown role `{role}`; known: {}", ROLES.join(", "));
    }
    let (client, conn) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    if client
        .query_opt("SELECT 1 FROM auth.accounts WHERE id = $1", &[&user])
        .await?
        .is_none()
    {
        bail!("no account {user}");
    }
    if grant {
        client
            .execute(
                "INSERT INTO auth.account_roles (account_id, role, granted_by) VALUES ($1, $2, $3) \
                 ON CONFLICT (account_id, role) DO NOTHING",
                &[&user, &role, &by],
            )
            .await?;
    } else {
        client
            .execute(
                "DELETE FROM auth.account_roles WHERE account_id = $1 AND role = $2",
                &[&user, &role],
            )
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_keygen_creates_once_and_the_key_signs_what_the_jwks_verifies() {
        let dir = std::env::temp_dir().join(format!("nexgate-tickets-{}", Uuid::new_v4().simple()));
        assert!(ticket_keygen(&dir).unwrap());
        assert!(!ticket_keygen(&dir).unwrap());
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        let signer = nexgate_ticketing::qr::TicketSigner::from_pkcs8_pem(
            &read(TICKET_KEY_FILE),
            &read(TICKET_KEY_ID_FILE),
        )
        .unwrap();
        let verifier =
            nexgate_ticketing::qr::TicketVerifier::from_jwks(&read(TICKET_PUBLIC_KEYS_FILE))
                .unwrap();
        let claims = nexgate_ticketing::qr::TicketClaims {
            key_id: 0,
            ticket_id: Uuid::new_v4(),
            event_id: Uuid::new_v4(),
            ticket_type_id: Uuid::new_v4(),
            days: nexgate_ticketing::qr::EVERY_DAY,
            valid_from: 0,
            valid_until: u32::MAX,
        };
        assert!(verifier.verify(&signer.sign(&claims)).is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn keygen_creates_once_and_keeps_the_pair() {
        let dir = std::env::temp_dir().join(format!("nexgate-keys-{}", Uuid::new_v4().simple()));
        assert!(jwt_keygen(&dir).unwrap());
        let first = std::fs::read_to_string(dir.join(PRIVATE_KEY_FILE)).unwrap();
        assert!(!jwt_keygen(&dir).unwrap());
        assert_eq!(
            first,
            std::fs::read_to_string(dir.join(PRIVATE_KEY_FILE)).unwrap()
        );
        let jwks: Jwks =
            serde_json::from_str(&std::fs::read_to_string(dir.join(PUBLIC_KEYS_FILE)).unwrap())
                .unwrap();
        assert!(jwks.keys[0].d.is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
