-- Notifications to one admin (in the platform, and the email that may
-- follow: `email` is its state) and a tenant's settings (a JSON object the
-- app validates; absent means every default).
CREATE TABLE notifications (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    INTEGER NOT NULL REFERENCES tenants (id),
    admin_id     INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    target_type  TEXT    NOT NULL,
    target_id    INTEGER NOT NULL,
    in_app       INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    seen_at      INTEGER,
    read_at      INTEGER,
    email        TEXT    NOT NULL,
    emailed_at   INTEGER
);
CREATE INDEX notifications_by_admin ON notifications (tenant_id, admin_id, id);
-- The unseen count and "mark all seen" touch only an admin's unseen
-- in-platform notifications, a few, not every one the admin ever had.
CREATE INDEX notifications_unseen ON notifications (tenant_id, admin_id, created_at)
    WHERE in_app AND seen_at IS NULL;

CREATE TABLE tenant_settings (
    tenant_id   INTEGER PRIMARY KEY REFERENCES tenants (id),
    settings    TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);
