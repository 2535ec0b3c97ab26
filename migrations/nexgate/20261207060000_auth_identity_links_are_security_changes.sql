-- Linking a sign-in provider changes how the account can be entered, like MFA and contact changes
-- (docs/auth.md, "Linked sign-in methods"): payouts wait 24 hours after it too.
CREATE OR REPLACE VIEW auth.security_changes AS
    SELECT a.id AS account_id,
           greatest(m.enabled_at,
                    (SELECT max(c.completed_at) FROM auth.contact_changes c WHERE c.account_id = a.id),
                    (SELECT max(i.created_at) FROM auth.oauth_identities i WHERE i.account_id = a.id))
               AS changed_at
    FROM auth.accounts a
    LEFT JOIN auth.mfa_totp m ON m.account_id = a.id;
