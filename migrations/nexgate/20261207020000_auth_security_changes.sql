-- Published for payments (docs/auth.md, "Re-authentication"): when an account last changed what
-- protects it (MFA turned on, an email or phone changed). Payouts and payout numbers wait 24 hours
-- after such a change, so a stolen session that enrols its own authenticator or moves the account
-- to its own address cannot take the money out at once.
CREATE VIEW auth.security_changes AS
    SELECT a.id AS account_id,
           greatest(m.enabled_at,
                    (SELECT max(c.completed_at) FROM auth.contact_changes c WHERE c.account_id = a.id))
               AS changed_at
    FROM auth.accounts a
    LEFT JOIN auth.mfa_totp m ON m.account_id = a.id;
GRANT SELECT ON auth.security_changes TO nexgate_services;
