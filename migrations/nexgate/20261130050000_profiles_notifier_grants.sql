-- The Notification Service reads who people are (names, mutes, blocks) from the views profiles
-- publishes, through the read-only `nexgate_notifier` role (docs/notifications.md, "Directory").
-- auth already granted it `auth.contact_points` (verified email and phone).
GRANT USAGE ON SCHEMA profiles TO nexgate_notifier;
GRANT SELECT ON profiles.public_cards, profiles.active_mutes, profiles.blocked_either_way TO nexgate_notifier;
