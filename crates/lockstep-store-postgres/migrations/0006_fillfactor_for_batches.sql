-- Room on every page for a whole batch's new row versions.
--
-- A batch updates records (and their states) whose rows sit side by side:
-- ids are drawn in order, so a page holds neighbours that the same batch
-- changes together. The old versions cannot be pruned until that batch
-- commits, so a page takes in place (a HOT update, no index entries) only
-- as many new versions as its free space holds. At fillfactor 80 that was a
-- fifth of a page: 29% of record updates and 25% of state updates stayed on
-- their page in the batch benchmark, and every other update wrote an entry
-- into each of the table's indexes (for records, the text unique key too).
-- Half a page empty leaves room for a new version of every row on it.
-- Pages written from now on follow the setting.
ALTER TABLE records SET (fillfactor = 50);
ALTER TABLE sync_states SET (fillfactor = 50);
