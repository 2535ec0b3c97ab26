-- Account deletion (docs/profiles.md, "Deleted accounts"): a deleted account's usernames stay
-- held for nobody (user_id NULL) for a while, so links and mentions do not jump to a stranger.
ALTER TABLE profiles.username_history ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE profiles.username_history DROP CONSTRAINT username_history_user_fkey;
ALTER TABLE profiles.username_history ADD CONSTRAINT username_history_user_fkey
    FOREIGN KEY (user_id) REFERENCES profiles.profiles (user_id) ON DELETE SET NULL;
