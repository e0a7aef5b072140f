//! What the spool asks of the OS about privacy and untrusted files.
//!
//! On Unix the spool enforces it: a 0700 directory of this user that others
//! cannot write in, 0600 files, files of others or with other hard links left
//! alone, opened without following symlinks or blocking on a FIFO.
//!
//! On Windows there are no modes or owner uids to check: who may read or
//! write the directory is decided by its ACLs, inherited from its parent
//! (private under the user's profile). Files found there are opened only
//! when they are regular files (not symlinks); hard links are not counted,
//! and a file adopted by another process is recognised by its name being
//! gone.

use std::fs::{File, Metadata};
use std::io;
use std::path::Path;

#[cfg(unix)]
pub use unix::*;
#[cfg(not(unix))]
pub use windows::*;

#[cfg(unix)]
mod unix {
    use super::*;
    use std::fs::{self, OpenOptions};
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};

    /// Create a new file only this user may read and write (0600 whatever
    /// the umask). `create_new` never follows a symlink.
    pub fn create_private(path: &Path) -> io::Result<File> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        // The mode is masked by the umask: set it again.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }

    /// Open a file found in the spool directory: never following a symlink,
    /// never blocking on a FIFO (its open returns at once; the caller then
    /// refuses it as not a regular file).
    pub fn open_untrusted(path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
    }

    /// Whether `open_untrusted` failed because the path is a symlink.
    pub fn is_symlink_refusal(e: &io::Error) -> bool {
        e.raw_os_error() == Some(libc::ELOOP)
    }

    /// The uid of the file's owner if it is not this user (whose files
    /// alone are replayed).
    pub fn foreign_owner(meta: &Metadata) -> Option<u32> {
        (meta.uid() != euid()).then(|| meta.uid())
    }

    /// How many names the opened file has: 0 once it was deleted.
    pub fn links(meta: &Metadata, _path: &Path) -> u64 {
        meta.nlink()
    }

    /// Create the directory private to this user (0700 whatever the umask).
    pub fn create_private_dir(dir: &Path) -> io::Result<()> {
        fs::DirBuilder::new().mode(0o700).create(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
    }

    /// Check an existing spool directory: refused if another user owns it
    /// or others may write in it (they could have records sent under the
    /// store's write key); `warn` gets a line if others may read it.
    pub fn check_private_dir(
        dir: &Path,
        meta: &Metadata,
        warn: impl FnOnce(String),
    ) -> io::Result<()> {
        let refuse = |why: String| Err(io::Error::new(io::ErrorKind::PermissionDenied, why));
        if let Some(uid) = foreign_owner(meta) {
            return refuse(format!(
                "it belongs to another user (uid {uid}), who could read customers' data and inject messages"
            ));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return refuse(format!(
                "it is writable by other users (mode {mode:o}), who could inject messages sent under \
                 your write key; run chmod 700 {}",
                dir.display()
            ));
        }
        if mode & 0o077 != 0 {
            warn(format!(
                "spool: {} is readable by other users (mode {mode:o}) and holds customers' \
                 data; run chmod 700 {} (new files are 0600 whatever its mode)",
                dir.display(),
                dir.display()
            ));
        }
        Ok(())
    }

    /// The effective user id.
    fn euid() -> u32 {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }
}

#[cfg(not(unix))]
mod windows {
    use super::*;
    use std::fs::{self, OpenOptions};

    /// Create a new file; its ACL is inherited from the directory.
    pub fn create_private(path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(path)
    }

    /// A symlink found in the spool directory (never followed).
    #[derive(Debug)]
    struct Symlink;

    impl std::fmt::Display for Symlink {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a symbolic link")
        }
    }

    impl std::error::Error for Symlink {}

    /// Open a file found in the spool directory if it is a regular file.
    /// (Swapping it for a symlink between the check and the open needs write
    /// access to the directory, which its ACL should give this user only.)
    pub fn open_untrusted(path: &Path) -> io::Result<File> {
        let meta = fs::symlink_metadata(path)?;
        if meta.file_type().is_symlink() {
            return Err(io::Error::other(Symlink));
        }
        if !meta.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        File::open(path)
    }

    /// Whether `open_untrusted` failed because the path is a symlink.
    pub fn is_symlink_refusal(e: &io::Error) -> bool {
        e.get_ref().is_some_and(|inner| inner.is::<Symlink>())
    }

    /// Owners are not compared on Windows (the directory's ACL applies).
    pub fn foreign_owner(_meta: &Metadata) -> Option<u32> {
        None
    }

    /// 0 once the opened file was deleted (its name is gone), else 1: the
    /// hard link count is not available from std on Windows.
    pub fn links(_meta: &Metadata, path: &Path) -> u64 {
        u64::from(path.exists())
    }

    /// Create the directory; its ACL is inherited from its parent.
    pub fn create_private_dir(dir: &Path) -> io::Result<()> {
        fs::create_dir(dir)
    }

    /// Nothing to check on Windows: the directory's ACL applies.
    pub fn check_private_dir(
        _dir: &Path,
        _meta: &Metadata,
        _warn: impl FnOnce(String),
    ) -> io::Result<()> {
        Ok(())
    }
}
