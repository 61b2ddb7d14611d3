//! Files lstmc writes: whole or not at all.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// Writes through a temporary file in the same folder, synced, then renamed over `path`: a
/// killed run leaves the old file or the new one, never half of one. A file already at
/// `path` keeps its permissions and owner, as it would if written in place; a symbolic link
/// there is replaced, not followed (`file_to_rewrite` follows one).
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let existing = std::fs::symlink_metadata(path)
        .ok()
        .filter(Metadata::is_file);
    let temporary = temporary_path(path)?;
    // Made here, never opened through whatever is already at its name (a link planted there
    // would otherwise be followed), and only its owner may read it until it takes the
    // existing file's permissions; a new output gets the usual ones, by the umask.
    let mode = if existing.is_some() { 0o600 } else { 0o666 };
    let mut file = create_new(&temporary, mode)?;
    let written = (|| {
        if let Some(existing) = &existing {
            keep_owner_and_permissions(&file, existing)?;
        }
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// A file made at `path` with `mode` (less the umask), failing if anything is there already.
fn create_new(path: &Path, mode: u32) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

/// Gives the new `file` the owner and permissions of the `existing` one, before any text is
/// written.
fn keep_owner_and_permissions(file: &File, existing: &Metadata) -> std::io::Result<()> {
    // Only root may give a file to another user, and others only to their own groups;
    // where the owner cannot be kept the group may still be, and otherwise the file becomes
    // the writer's, as any file they create, which is no reason to refuse the write. The
    // owner goes first, since changing it clears set-id bits that the permissions restore.
    let fchown = std::os::unix::fs::fchown;
    if fchown(file, Some(existing.uid()), Some(existing.gid())).is_err() {
        let _ = fchown(file, None, Some(existing.gid()));
    }
    file.set_permissions(existing.permissions())
}

/// The file to rewrite for the existing file at `path`, or why it must not be: a symbolic
/// link is followed, so that the file it points to is rewritten and the link stays one.
pub fn file_to_rewrite(path: &Path) -> Result<PathBuf, String> {
    let cannot = |why: String| format!("cannot write {}: {why}", path.display());
    let target = std::fs::canonicalize(path).map_err(|error| cannot(error.to_string()))?;
    let metadata = std::fs::metadata(&target).map_err(|error| cannot(error.to_string()))?;
    // Read from the bits rather than tried, since root may write any file: a file its
    // owner marked read-only is kept as it is for everyone.
    if metadata.permissions().readonly() {
        return Err(cannot(
            "the file is read-only; make it writable (chmod u+w) to format it".to_string(),
        ));
    }
    // The rename needs only the folder to be writable, so the file's own permission is
    // asked by opening it for writing, which changes nothing.
    OpenOptions::new()
        .write(true)
        .open(&target)
        .map_err(|error| cannot(error.to_string()))?;
    // A new file renamed over one of several names would leave the others with the old
    // text, and writing in place could leave a half-written file if interrupted. Both break
    // what a user expects, so the file is refused and the user chooses.
    if metadata.nlink() > 1 {
        return Err(cannot(format!(
            "it has {} hard links, which rewriting it would split; format a copy and copy it \
             back over the file (cp writes in place)",
            metadata.nlink()
        )));
    }
    Ok(target)
}

/// The temporary file `write_atomically` writes `path` through.
pub fn temporary_path(path: &Path) -> std::io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    Ok(path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    )))
}

/// A file can be written at `path`: its folder exists and takes a new file, and the path
/// is not a folder itself.
pub fn check_writable(path: &Path) -> Result<(), String> {
    let folder = path
        .parent()
        .filter(|f| !f.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if folder.exists() && !folder.is_dir() {
        return Err(format!(
            "cannot write {}: {} is a file, not a folder",
            path.display(),
            folder.display()
        ));
    }
    if !folder.is_dir() {
        return Err(format!(
            "cannot write {}: no folder {}",
            path.display(),
            folder.display()
        ));
    }
    if path.is_dir() {
        return Err(format!("cannot write {}: it is a folder", path.display()));
    }
    // The very file `write_atomically` will write through, so that its name is tried too.
    temporary_path(path)
        .and_then(|probe| create_new(&probe, 0o600).and_then(|_| std::fs::remove_file(&probe)))
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}

/// Whether two paths name the same file, whether or not it exists yet: their folders
/// resolved (links, `..`) and their names compared.
pub fn same_file(a: &Path, b: &Path) -> bool {
    let resolved = |path: &Path| {
        let folder = path
            .parent()
            .filter(|f| !f.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let folder = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
        folder.join(path.file_name().unwrap_or_default())
    };
    resolved(a) == resolved(b)
}

/// `cannot read PATH: WHY`, in the words the spec's data files are reported in for the common
/// cases (`no such file`, `permission denied`), not the platform's.
pub fn cannot_read(path: &Path, error: &std::io::Error) -> String {
    let why = match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    };
    format!("cannot read {}: {why}", path.display())
}
