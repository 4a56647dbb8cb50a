-- Notifications to one admin (in the platform, and the email that may
-- follow: `email` is its state) and a tenant's settings (a JSON object the
-- app validates; absent means every default).
CREATE TABLE notifications (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    admin_id     BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    BIGINT NOT NULL,
    in_app       BOOLEAN NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    seen_at      TIMESTAMPTZ,
    read_at      TIMESTAMPTZ,
    email        TEXT NOT NULL,
    emailed_at   TIMESTAMPTZ
);
CREATE INDEX notifications_by_admin ON notifications (tenant_id, admin_id, id);
-- The unseen count and "mark all seen" touch only an admin's unseen
-- in-platform notifications, a few, not every one the admin ever had.
CREATE INDEX notifications_unseen ON notifications (tenant_id, admin_id, created_at)
    WHERE in_app AND seen_at IS NULL;

CREATE TABLE tenant_settings (
    tenant_id   BIGINT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    settings    JSONB NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
