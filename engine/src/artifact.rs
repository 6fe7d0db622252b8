//! Release artifacts: a built release packed once as a gzip'd tar and named by the
//! SHA-256 of its bytes; checked against that name before use and unpacked with
//! limits, so a broken or hostile archive cannot write outside the release directory,
//! plant links that lead out of it, create devices, or fill the disk.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

/// How much an archive may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of file content, in all.
    pub max_bytes: u64,
    /// Files, directories and links.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_bytes: 4 << 30, max_entries: 500_000 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactError {
    ChecksumMismatch {
        expected: String,
        actual: String,
    },
    /// An absolute path, or one with `..`.
    UnsafePath(String),
    /// An entry whose path goes through a symbolic link the archive made earlier (a
    /// chain of links that each look inside could otherwise lead writes out).
    ThroughLink {
        path: String,
        link: String,
    },
    /// A symbolic link leading outside the release, or any hard link.
    UnsafeLink {
        path: String,
        target: String,
    },
    /// Devices, pipes and other special files.
    Unsupported {
        path: String,
        kind: String,
    },
    TooLarge {
        limit: u64,
    },
    TooManyEntries {
        limit: u64,
    },
    Io(String),
}

impl fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ChecksumMismatch { expected, actual } => {
                write!(f, "the artifact's checksum is sha256:{actual}, not the expected sha256:{expected}")
            }
            Self::UnsafePath(path) => write!(f, "the artifact holds an unsafe path `{path}`"),
            Self::ThroughLink { path, link } => {
                write!(f, "the artifact's entry `{path}` goes through its own link `{link}`")
            }
            Self::UnsafeLink { path, target } => {
                write!(f, "the artifact's link `{path}` -> `{target}` leads outside the release")
            }
            Self::Unsupported { path, kind } => write!(f, "the artifact holds a {kind} at `{path}`"),
            Self::TooLarge { limit } => write!(f, "the artifact unpacks to more than {limit} bytes"),
            Self::TooManyEntries { limit } => write!(f, "the artifact holds more than {limit} entries"),
            Self::Io(e) => write!(f, "reading the artifact: {e}"),
        }
    }
}

impl std::error::Error for ArtifactError {}

impl From<io::Error> for ArtifactError {
    fn from(e: io::Error) -> Self {
        Self::Io(e.to_string())
    }
}

/// Packs `dir` (without its `.git`) into `out`; returns the archive's SHA-256 (hex).
pub fn pack(dir: &Path, out: &Path) -> io::Result<String> {
    pack_into(dir, File::create(out)?)
}

/// Packs `dir` into a file opened already: a directory that only Ferry's own user may
/// write to, while the walk runs as the step's user (`release_dir::as_owner`).
pub fn pack_into(dir: &Path, out: File) -> io::Result<String> {
    let file = HashingWriter { inner: out, hasher: Sha256::new() };
    let mut builder = tar::Builder::new(GzEncoder::new(file, flate2::Compression::fast()));
    builder.follow_symlinks(false);
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(dir.join(&relative))?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = relative.join(entry.file_name());
            if name == Path::new(".git") {
                continue;
            }
            let kind = entry.file_type()?;
            builder.append_path_with_name(entry.path(), &name)?;
            if kind.is_dir() {
                pending.push(name);
            }
        }
    }
    let mut file = builder.into_inner()?.finish()?;
    file.flush()?;
    Ok(hex::encode(file.hasher.finalize()))
}

/// The SHA-256 (hex) of a file.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut hasher = Sha256::new();
    io::copy(&mut reader, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Checks the archive against its expected SHA-256, then unpacks it into `dest` (which
/// must not exist yet). Returns the bytes of file content written.
pub fn unpack(archive: &Path, expected_sha256: &str, dest: &Path, limits: &Limits) -> Result<u64, ArtifactError> {
    unpack_from(File::open(archive)?, expected_sha256, dest, limits)
}

/// `unpack` from a file opened already (one the step's user may not read, while the
/// entries are written as that user).
pub fn unpack_from(
    mut archive: File,
    expected_sha256: &str,
    dest: &Path,
    limits: &Limits,
) -> Result<u64, ArtifactError> {
    use std::io::Seek;
    let mut hasher = Sha256::new();
    io::copy(&mut BufReader::new(&mut archive), &mut hasher)?;
    let actual = hex::encode(hasher.finalize());
    if !actual.eq_ignore_ascii_case(expected_sha256) {
        return Err(ArtifactError::ChecksumMismatch { expected: expected_sha256.into(), actual });
    }
    archive.rewind()?;
    std::fs::create_dir(dest)?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(archive)));
    let (mut entries, mut bytes) = (0u64, 0u64);
    for entry in tar.entries()? {
        let mut entry = entry?;
        entries += 1;
        if entries > limits.max_entries {
            return Err(ArtifactError::TooManyEntries { limit: limits.max_entries });
        }
        let kind = entry.header().entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader) {
            continue; // metadata for other entries, nothing to write
        }
        let raw = entry.path()?.to_string_lossy().into_owned();
        let relative = safe_relative(&raw).ok_or_else(|| ArtifactError::UnsafePath(raw.clone()))?;
        if relative.as_os_str().is_empty() {
            continue; // the archive's root itself
        }
        if let Some(link) = first_link_among_parents(dest, &relative)? {
            return Err(ArtifactError::ThroughLink { path: raw, link: link.display().to_string() });
        }
        let path = dest.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        remove_link(&path)?;
        match kind {
            tar::EntryType::Directory => std::fs::create_dir_all(&path)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let room = limits.max_bytes - bytes;
                let mut file = File::create(&path)?;
                let written = io::copy(&mut (&mut entry).take(room + 1), &mut file)?;
                if written > room {
                    return Err(ArtifactError::TooLarge { limit: limits.max_bytes });
                }
                bytes += written;
                set_mode(&path, entry.header().mode().unwrap_or(0o644))?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name()?.map(|t| t.to_string_lossy().into_owned()).unwrap_or_default();
                if !link_stays_inside(&relative, &target) {
                    return Err(ArtifactError::UnsafeLink { path: raw, target });
                }
                std::os::unix::fs::symlink(&target, &path)?;
            }
            tar::EntryType::Link => {
                let target = entry.link_name()?.map(|t| t.to_string_lossy().into_owned()).unwrap_or_default();
                return Err(ArtifactError::UnsafeLink { path: raw, target });
            }
            other => return Err(ArtifactError::Unsupported { path: raw, kind: kind_name(other) }),
        }
    }
    Ok(bytes)
}

/// A path made only of normal components (`.` dropped); `None` for absolute ones and
/// ones with `..`.
fn safe_relative(raw: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Whether a relative link at `at` (inside the release) to `target` resolves, step by
/// step, without leaving the release. Absolute targets never stay inside.
fn link_stays_inside(at: &Path, target: &str) -> bool {
    if target.is_empty() || Path::new(target).is_absolute() {
        return false;
    }
    let mut depth = at.components().count() as i64 - 1; // the link's directory
    for component in Path::new(target).components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// The first directory on the way to `relative` (inside `dest`) that is a symbolic
/// link, if any. Links are judged where they stand, lexically; a path through one would
/// be resolved by the file system instead, so no entry may go through one.
fn first_link_among_parents(dest: &Path, relative: &Path) -> io::Result<Option<PathBuf>> {
    let mut prefix = PathBuf::new();
    let mut components = relative.components().peekable();
    while let Some(component) = components.next() {
        if components.peek().is_none() {
            break; // the entry itself: an earlier link there is replaced, not followed
        }
        prefix.push(component);
        match std::fs::symlink_metadata(dest.join(&prefix)) {
            Ok(meta) if meta.file_type().is_symlink() => return Ok(Some(prefix)),
            Ok(_) => {}
            // Not there yet: nothing below it can be a link either.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// A link already at `path` (an earlier entry) is replaced, never written through.
fn remove_link(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::remove_file(path),
        _ => Ok(()),
    }
}

/// Permission bits only: no setuid, setgid or sticky bits from an archive.
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o777))
}

fn kind_name(kind: tar::EntryType) -> String {
    match kind {
        tar::EntryType::Char => "character device".into(),
        tar::EntryType::Block => "block device".into(),
        tar::EntryType::Fifo => "named pipe".into(),
        other => format!("special entry ({other:?})"),
    }
}

/// Hashes what it writes, so packing reads the files once.
struct HashingWriter {
    inner: File,
    hasher: Sha256,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_judged_by_where_they_lead() {
        assert!(link_stays_inside(Path::new("bin/run"), "../lib/run.sh"));
        assert!(link_stays_inside(Path::new("a/b/c"), "../../d"));
        assert!(!link_stays_inside(Path::new("run"), "../outside"));
        assert!(!link_stays_inside(Path::new("a/run"), "../../outside"));
        assert!(!link_stays_inside(Path::new("a/run"), "/etc/passwd"));
        assert!(!link_stays_inside(Path::new("a/run"), "x/../../../y"));
    }

    #[test]
    fn paths_with_parents_or_roots_are_refused() {
        assert_eq!(safe_relative("./a/b"), Some(PathBuf::from("a/b")));
        assert_eq!(safe_relative("a/../../b"), None);
        assert_eq!(safe_relative("/etc/passwd"), None);
    }
}
