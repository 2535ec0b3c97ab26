-- Event ticketing, fourth part (docs/ticketing.md, "Devices", "Offline scanning"): scanner
-- machines and self check-in kiosks registered to one event, each with its own credential (only
-- its SHA-256 is kept; shown once), expiring with the event and revocable; check-ins made offline
-- and uploaded later keep their scan time; a ticket admitted at two gates is flagged.

CREATE TABLE events.devices (
    id uuid PRIMARY KEY,
    event_id uuid NOT NULL REFERENCES events.events (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('scanner', 'kiosk')),
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 60),
    gate text CHECK (char_length(gate) BETWEEN 1 AND 40),
    credential_sha256 bytea NOT NULL UNIQUE,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    last_used_at timestamptz
);
CREATE INDEX devices_event_idx ON events.devices (event_id, created_at);

-- When the scan was made (an offline scan keeps its own time; `at` is when the server took it).
ALTER TABLE events.checkins ADD COLUMN scanned_at timestamptz;
ALTER TABLE events.checkins ADD CONSTRAINT checkins_device FOREIGN KEY (device_id) REFERENCES events.devices (id);
CREATE INDEX checkins_ticket_day_idx ON events.checkins (day, at);

-- The same ticket admitted for the same day at two places (an offline scanner and another gate).
CREATE TABLE events.checkin_conflicts (
    id uuid PRIMARY KEY,
    event_id uuid NOT NULL REFERENCES events.events (id),
    ticket_id uuid NOT NULL REFERENCES events.tickets (id),
    day smallint NOT NULL,
    -- The admission that stands (the first by scan time) and the one that clashed with it.
    first_gate text,
    first_device_id uuid,
    second_gate text,
    second_device_id uuid,
    second_scanned_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX checkin_conflicts_event_idx ON events.checkin_conflicts (event_id, recorded_at);
