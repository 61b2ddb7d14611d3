//! Files lstmc writes: whole or not at all.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Writes through a temporary file in the same folder, synced, then renamed over `path`: a
/// killed run leaves the old file or the new one, never half of one.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let temporary = temporary_path(path)?;
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
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
        .and_then(|probe| std::fs::File::create(&probe).and_then(|_| std::fs::remove_file(&probe)))
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
