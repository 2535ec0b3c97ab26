-- The notifications database: owned by the Notification Service (issue 7 adds its tables).
-- This first migration only records that the database is under `nexgate-ops migrate`.
SELECT 1;
