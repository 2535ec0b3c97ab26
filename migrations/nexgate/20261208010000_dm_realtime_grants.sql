-- The real-time gateway (`nexgate-realtime`, docs/dm.md "Real-time gateway") reads what it pushes
-- through the read-only `nexgate_realtime` role (created cluster-wide by infra/setup-stores.sh, like
-- the notifier's): the DM tables the shared change query reads (crates/dm/src/changes.rs).
-- profiles (the block rule) and auth (live sessions) grant theirs in their own migrations.
GRANT USAGE ON SCHEMA dm TO nexgate_realtime;
GRANT SELECT ON dm.changes, dm.messages, dm.members, dm.settings, dm.hidden_messages, dm.conversations
    TO nexgate_realtime;
