//! The key of the embedded default: with SQLite and no `secret_keys`
//! configured, Lockstep makes a key at first start and keeps it beside the
//! database (`lockstep.db` → `lockstep.db.key`), readable by its owner only.
//!
//! The file is created with mode 0600 from the start (never written first
//! and narrowed after), into a temporary name, and then hard-linked to its
//! final name, which fails if the name exists. So two processes starting on
//! one new database at once end up with the same key: the second finds the
//! first's file, complete, and reads it. A key file is never overwritten.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::key::SecretKey;

/// Where the key of the SQLite database at `database` lives.
pub fn path_for(database: &str) -> PathBuf {
    PathBuf::from(format!("{database}.key"))
}

/// The key kept at `path`, when there is one.
pub fn load(path: &Path) -> anyhow::Result<Option<SecretKey>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => zeroize::Zeroizing::new(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading the secret key file {}", path.display())),
    };
    warn_if_others_may_read(path);
    let key = SecretKey::parse(&text).map_err(|e| {
        anyhow::anyhow!(
            "the secret key file {} {e}; restore it from a backup (without it, stored credentials cannot be decrypted)",
            path.display()
        )
    })?;
    Ok(Some(key))
}

/// The key kept at `path`, made and kept there first if there is none;
/// `true` when it was made now.
pub fn load_or_create(path: &Path) -> anyhow::Result<(SecretKey, bool)> {
    if let Some(key) = load(path)? {
        return Ok((key, false));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let key = SecretKey::generate();
    let temporary = path.with_extension(format!("key.{}.tmp", hex::encode(rand::random::<[u8; 8]>())));
    let written = write_owner_only(&temporary, &key);
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            sync_directory(path);
            Ok((key, true))
        }
        // Another process made the key first: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let key = load(path)?.with_context(|| format!("the secret key file {} vanished", path.display()))?;
            Ok((key, false))
        }
        Err(e) => Err(e).with_context(|| format!("creating the secret key file {}", path.display())),
    }
}

fn write_owner_only(path: &Path, key: &SecretKey) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(format!("{}\n", key.to_base64().as_str()).as_bytes())?;
    file.sync_all()
}

/// Makes the new directory entry durable, so a crash right after the first
/// start cannot lose the key while the database keeps what it encrypted.
fn sync_directory(path: &Path) {
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
        if let Ok(dir) = std::fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
}

fn warn_if_others_may_read(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{mode:o}"),
                    "the secret key file may be read by other users; `chmod 600` it");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_and_read_back_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("lockstep.db").display().to_string());
        assert_eq!(path.file_name().unwrap(), "lockstep.db.key");
        let (made, fresh) = load_or_create(&path).unwrap();
        assert!(fresh);
        let (read, fresh) = load_or_create(&path).unwrap();
        assert!(!fresh);
        assert_eq!(read, made);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left behind");
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("lockstep.db.key");
        load_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_damaged_key_file_stops_the_start_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lockstep.db.key");
        std::fs::write(&path, "too short").unwrap();
        let err = load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("lockstep.db.key") && err.contains("base64"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "too short", "never overwritten");
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lockstep.db.key");
        let keys: Vec<SecretKey> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| load_or_create(&path).unwrap().0)).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]));
    }
}
