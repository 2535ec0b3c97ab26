-- The real-time gateway closes the sockets of sessions that ended (logout, revocation, password
-- change) within seconds: it reads the published live sessions (docs/dm.md, "Real-time gateway").
GRANT USAGE ON SCHEMA auth TO nexgate_realtime;
GRANT SELECT ON auth.live_sessions TO nexgate_realtime;
