//! The event types of the authentication service (docs/auth.md): `auth.*`.

use uuid::Uuid;

event_types! {
    producer: "auth";

    AccountCreated {
        name: "auth.account.created",
        version: 1,
        secret: false,
        description: "A registration was verified: the account and its profile now exist. Audience: the new user (welcome message).",
        data: {
            user_id: Uuid = "string (uuid): the new account",
            channel: String = "string: email or phone (the verified contact point), or google, apple or facebook for an account made through that provider",
            username: String = "string: the username claimed",
        }
    }

    VerificationCodeIssued {
        name: "auth.verification_code.issued",
        version: 1,
        secret: true,
        description: "A one-time code must reach an email address or phone. Carries a secret, sealed to the notifier (see Sealed secrets); purged from the outbox once published; delivered regardless of preferences and quiet hours.",
        data: {
            purpose: String = "string: registration (later also contact_change)",
            channel: String = "string: email or phone",
            address: String = "string: the email address or E.164 number to send to",
            code: String = "string, sealed: the 6-digit code",
            expires_at: String = "string: RFC 3339 time after which the code is refused",
        }
    }

    RegistrationAddressInUse {
        name: "auth.registration.address_in_use",
        version: 1,
        secret: false,
        description: "Someone tried to register with an email or phone that already has an account; its owner gets this notice instead of a code (the registrant sees the same answer either way). Audience: the owner.",
        data: {
            channel: String = "string: email or phone",
            address: String = "string: the address the attempt used",
            attempted_at: String = "string: RFC 3339 time of the attempt",
        }
    }

    LoginNewDevice {
        name: "auth.login.new_device",
        version: 1,
        secret: false,
        description: "A login from a device never seen for this account. Audience: the account's user.",
        data: {
            session_id: Uuid = "string (uuid): the new session",
            device_name: String = "string: the name the app reported",
            platform: String = "string: ios, android, web, desktop or other",
            ip: Option<String> = "string or null: the client address",
            logged_in_at: String = "string: RFC 3339 time of the login",
        }
    }

    SuspiciousActivityDetected {
        name: "auth.suspicious_activity.detected",
        version: 1,
        secret: false,
        description: "Something looked like an attack on an account: a login lockout after repeated failures, or a rotated refresh token presented again (its session family was revoked). Audience: the account's user when the identifier matched an account, else nobody.",
        data: {
            reason: String = "string: login_lockout or refresh_token_reuse",
            ip: Option<String> = "string or null: the client address",
            locked_for_secs: Option<i64> = "integer: for login_lockout, how long logins are refused",
            session_id: Option<Uuid> = "string (uuid): for refresh_token_reuse, the revoked session",
        }
    }

    PasswordResetRequested {
        name: "auth.password_reset.requested",
        version: 1,
        secret: true,
        description: "Someone asked to reset the password of an account; the link goes to its verified email (else phone). Carries a secret, sealed to the notifier (see Sealed secrets); purged from the outbox once published; delivered regardless of preferences. Audience: the account's user.",
        data: {
            channel: String = "string: email or phone",
            address: String = "string: where to send the link",
            token: String = "string: the single-use reset token",
            link: String = "string: public_base_url + /reset-password?token=...",
            expires_at: String = "string: RFC 3339 time after which the token is refused",
        }
    }

    PasswordChanged {
        name: "auth.password.changed",
        version: 1,
        secret: false,
        description: "An account's password was reset or changed (security notice). Audience: the account's user.",
        data: {
            how: String = "string: reset or change",
            ip: Option<String> = "string or null: the client address",
            changed_at: String = "string: RFC 3339 time of the change",
        }
    }

    MfaEnabled {
        name: "auth.mfa.enabled",
        version: 1,
        secret: false,
        description: "Two-factor authentication was turned on for an account (security notice). Audience: the account's user.",
        data: {
            method: String = "string: totp",
            session_id: Uuid = "string (uuid): the session that turned it on",
            at: String = "string: RFC 3339 time",
        }
    }

    MfaRecoveryCodesRegenerated {
        name: "auth.mfa.recovery_codes_regenerated",
        version: 1,
        secret: false,
        description: "New MFA recovery codes replaced the old ones (security notice: the old codes stop working). Audience: the account's user.",
        data: {
            session_id: Uuid = "string (uuid): the session that asked for them",
            at: String = "string: RFC 3339 time",
        }
    }

    MfaDisabled {
        name: "auth.mfa.disabled",
        version: 1,
        secret: false,
        description: "Two-factor authentication was turned off for an account (security notice). Audience: the account's user.",
        data: {
            method: String = "string: totp",
            session_id: Uuid = "string (uuid): the session that turned it off",
            at: String = "string: RFC 3339 time",
        }
    }

    ContactChanged {
        name: "auth.contact.changed",
        version: 1,
        secret: false,
        description: "An account's email address or phone number was added or replaced after the new one was verified. Tell the old address (when there was one) and the user. Audience: the account's user.",
        data: {
            channel: String = "string: email or phone",
            old_address: Option<String> = "string or null: the address replaced (send the notice here)",
            new_address: String = "string: the verified new address",
            changed_at: String = "string: RFC 3339 time",
        }
    }

    IdentityLinked {
        name: "auth.identity.linked",
        version: 1,
        secret: false,
        description: "An identity provider's sign-in (Google, Apple, Facebook) was linked to an existing account: because the provider vouched for the account's email, or by the signed-in user (after re-authenticating). Security notice for the owner. Audience: the user.",
        data: {
            user_id: Uuid = "string (uuid)",
            provider: String = "string: google, apple or facebook",
            email: String = "string: the email that matched (or the provider's email, empty when it gave none)",
        }
    }

    IdentityUnlinked {
        name: "auth.identity.unlinked",
        version: 1,
        secret: false,
        description: "The signed-in user unlinked an identity provider from their account (after re-authenticating). Security notice for the owner. Audience: the user.",
        data: {
            user_id: Uuid = "string (uuid)",
            provider: String = "string: google, apple or facebook",
        }
    }

    AccountDeleted {
        name: "auth.account.deleted",
        version: 1,
        secret: false,
        description: "A user deleted their account (DELETE /auth/account, after re-authenticating and with nothing open): its sessions are revoked and the account is gone. Every service erases or anonymises what it holds about the user (docs/auth.md, Deleting an account). Audience: none (nothing is sent to a deleted account).",
        data: {
            user_id: Uuid = "string (uuid): the deleted account",
            deleted_at: String = "string: RFC 3339 time of the deletion",
        }
    }
}
