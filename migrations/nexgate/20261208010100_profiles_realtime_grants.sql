-- The real-time gateway applies blocks to what it pushes (read receipts, typing): it may ask the
-- published block rule (docs/dm.md, "Real-time gateway").
GRANT USAGE ON SCHEMA profiles TO nexgate_realtime;
GRANT EXECUTE ON FUNCTION profiles.blocked_either_way(uuid, uuid) TO nexgate_realtime;
