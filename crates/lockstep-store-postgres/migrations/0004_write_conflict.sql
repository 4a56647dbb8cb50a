-- The error a record write raises when what it read has changed before its
-- one writing statement ran (write_changes.rs): raising undoes the whole
-- statement, so a write is stored entirely or not at all, and the store then
-- writes the batch again under row locks. A function, because plain SQL has
-- no way to raise; VOLATILE (the default), so it runs only when reached.
CREATE FUNCTION lockstep_write_conflict() RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a record or sync state changed after the write read it'
        USING ERRCODE = 'LSW01';
END
$$;
