//! The layout of releases on a target: `<target>/releases/<release>/` and a `current`
//! symlink switched atomically, with new code assembled in an incoming directory first.
//!
//! When the target has an owner (steps run as an unprivileged user because Ferry runs
//! as root), the target directory is that user's, and every file operation in it runs
//! with the user's file-system identity: the user's own processes can change the tree
//! at any moment, and a link planted there must not lead root anywhere else.

use std::io;
use std::path::{Path, PathBuf};

use crate::process::RunAs;

/// Paths of one deployment on one target directory.
#[derive(Debug, Clone)]
pub struct ReleasePaths {
    pub target_dir: PathBuf,
    pub release_id: i64,
    pub deployment_id: i64,
    /// The user the steps run as and the target directory belongs to.
    pub owner: Option<RunAs>,
}

/// Runs `op` on this thread with `owner`'s file-system identity (Linux's fsuid and
/// fsgid are per thread): what it opens, creates, renames or removes is checked as that
/// user and made theirs. `op` must not await. Without an owner, `op` just runs.
pub fn as_owner<T>(owner: Option<RunAs>, op: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    let Some(owner) = owner else { return op() };
    let _identity = FsIdentity::assume(owner)?;
    op()
}

/// The thread's file-system identity while it acts for a step's user; the previous
/// one comes back when it is dropped.
struct FsIdentity {
    uid: u32,
    gid: u32,
}

impl FsIdentity {
    fn assume(owner: RunAs) -> io::Result<Self> {
        // SAFETY: plain system calls on this thread's credentials.
        let (gid, uid) = unsafe { (libc::setfsgid(owner.gid), libc::setfsuid(owner.uid)) };
        let previous = FsIdentity { uid: uid as u32, gid: gid as u32 };
        // The calls report the previous ids, not failure: ask again to be sure.
        let now = unsafe { (libc::setfsgid(u32::MAX), libc::setfsuid(u32::MAX)) };
        if now != (owner.gid as i32, owner.uid as i32) {
            drop(previous);
            return Err(io::Error::other(format!(
                "cannot act as user {}:{} (steps run as another user only when Ferry runs as root or holds CAP_SETUID and CAP_SETGID)",
                owner.uid, owner.gid
            )));
        }
        Ok(previous)
    }
}

impl Drop for FsIdentity {
    fn drop(&mut self) {
        // SAFETY: as above; uid first, so the gid can still be set back.
        unsafe {
            libc::setfsuid(self.uid);
            libc::setfsgid(self.gid);
        }
    }
}

/// Makes `path` (and what is in it) `owner`'s, not following links. Only for a tree
/// that its user could not write to before: root's files from an older Ferry.
fn give_tree(path: &Path, owner: RunAs) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(owner.uid), Some(owner.gid))?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            give_tree(&entry?.path(), owner)?;
        }
    }
    Ok(())
}

impl ReleasePaths {
    pub fn new(target_dir: PathBuf, release_id: i64, deployment_id: i64) -> Self {
        ReleasePaths { target_dir, release_id, deployment_id, owner: None }
    }

    /// Runs `op` as the target's owner (see `as_owner`).
    pub fn as_owner<T>(&self, op: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        as_owner(self.owner, op)
    }

    /// Creates the target directory (its parents are Ferry's) and gives it to its owner,
    /// private to them; a tree Ferry made itself, or one left by an older Ferry that ran
    /// steps as root, is given over whole, once. A tree of another user is refused: walking it as root while
    /// that user's processes may still change it could be led anywhere.
    pub fn make_target_dir(&self) -> io::Result<()> {
        std::fs::create_dir_all(&self.target_dir)?;
        let Some(owner) = self.owner else { return Ok(()) };
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = std::fs::symlink_metadata(&self.target_dir)?;
        if !meta.is_dir() {
            return Err(io::Error::other(format!("{} is not a directory", self.target_dir.display())));
        }
        // SAFETY: reads this process's effective uid.
        let ferry = unsafe { libc::geteuid() };
        if meta.uid() == 0 || meta.uid() == ferry {
            give_tree(&self.target_dir, owner)?;
        } else if meta.uid() != owner.uid {
            return Err(io::Error::other(format!(
                "{} belongs to user {}, not to this project's user {}: remove it (or give it to {}) to deploy here",
                self.target_dir.display(),
                meta.uid(),
                owner.uid,
                owner.uid
            )));
        }
        // As its owner: Ferry without root (the package's service) may change only
        // the modes of its own files.
        self.as_owner(|| std::fs::set_permissions(&self.target_dir, std::fs::Permissions::from_mode(0o700)))
    }

    /// Creates this deployment's `HOME` (see `home`).
    pub fn make_home(&self) -> io::Result<PathBuf> {
        self.make_target_dir()?;
        let home = self.home();
        self.as_owner(|| std::fs::create_dir_all(&home))?;
        Ok(home)
    }

    /// Removes what this deployment left that is not a release: its `HOME`, and its
    /// incoming directory unless it went live.
    pub fn clean_up(&self, keep_incoming: bool) {
        let _ = self.as_owner(|| {
            if !keep_incoming {
                let _ = remove_if_present(&self.incoming());
            }
            remove_if_present(&self.home())
        });
    }

    pub fn releases(&self) -> PathBuf {
        self.target_dir.join("releases")
    }

    /// Where the release is fetched and built before it goes live.
    pub fn incoming(&self) -> PathBuf {
        self.releases().join(format!(".incoming-{}", self.deployment_id))
    }

    /// The `HOME` of this deployment's steps: its own, removed when it ends, so no
    /// run sees what another left in a home directory (caches, credentials).
    pub fn home(&self) -> PathBuf {
        self.target_dir.join("homes").join(self.deployment_id.to_string())
    }

    pub fn release(&self) -> PathBuf {
        self.releases().join(self.release_id.to_string())
    }

    pub fn current(&self) -> PathBuf {
        self.target_dir.join("current")
    }

    /// Removes leftovers of an earlier attempt and creates the releases directory.
    pub fn prepare(&self) -> io::Result<()> {
        self.make_target_dir()?;
        self.as_owner(|| {
            std::fs::create_dir_all(self.releases())?;
            remove_if_present(&self.incoming())
        })
    }

    /// Moves the built release into place and points `current` at it. Redeploying a
    /// release replaces its directory; the symlink is swapped with one rename, so
    /// `current` always points at a complete release.
    pub fn switch(&self) -> io::Result<PathBuf> {
        self.as_owner(|| {
            let release = self.place_incoming()?;
            self.point_current()?;
            self.touch()?;
            Ok(release)
        })
    }

    /// Moves the built release into `releases/<release>/`, replacing an older copy.
    fn place_incoming(&self) -> io::Result<PathBuf> {
        let release = self.release();
        if release.exists() {
            let old = self.releases().join(format!(".replaced-{}", self.deployment_id));
            remove_if_present(&old)?;
            std::fs::rename(&release, &old)?;
            std::fs::rename(self.incoming(), &release)?;
            remove_if_present(&old)?;
        } else {
            std::fs::rename(self.incoming(), &release)?;
        }
        Ok(release)
    }

    /// Blue-green: the slot that serves traffic (`<target>/live-slot`), if any.
    pub fn live_slot(&self) -> Option<String> {
        let text = self.as_owner(|| std::fs::read_to_string(self.target_dir.join("live-slot"))).ok()?;
        Some(text.trim().to_string()).filter(|s| !s.is_empty())
    }

    /// Blue-green: puts the built release into place and points `slot-<slot>` at it;
    /// `current` and the traffic stay where they are.
    pub fn stage(&self, slot: &str) -> io::Result<PathBuf> {
        self.as_owner(|| {
            let release = self.place_incoming()?;
            self.point(&format!("slot-{slot}"))?;
            Ok(release)
        })
    }

    /// Blue-green: points `slot-<slot>` at a release already on the target (a rollback).
    pub fn restage(&self, slot: &str) -> io::Result<PathBuf> {
        self.as_owner(|| {
            let release = self.existing()?;
            self.point(&format!("slot-{slot}"))?;
            Ok(release)
        })
    }

    /// Blue-green, once traffic is on `slot`: `current` follows, and the slot is live.
    pub fn go_live(&self, slot: &str) -> io::Result<PathBuf> {
        self.as_owner(|| self.go_live_here(slot))
    }

    fn go_live_here(&self, slot: &str) -> io::Result<PathBuf> {
        let release = self.existing()?;
        self.point_current()?;
        self.touch()?;
        let temp = self.target_dir.join(format!(".live-slot-{}", self.deployment_id));
        std::fs::write(&temp, format!("{slot}\n"))?;
        std::fs::rename(&temp, self.target_dir.join("live-slot"))?;
        Ok(release)
    }

    fn existing(&self) -> io::Result<PathBuf> {
        let release = self.release();
        if !release.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("release {} is no longer on this target ({})", self.release_id, release.display()),
            ));
        }
        Ok(release)
    }

    /// Takes the environment off the target: `current`, the slots and every release go
    /// (a preview's teardown). Answers the target directory.
    pub fn retire(&self) -> io::Result<PathBuf> {
        self.as_owner(|| {
            let Ok(entries) = std::fs::read_dir(&self.target_dir) else { return Ok(self.target_dir.clone()) };
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name == "current" || name == "live-slot" || name == "releases" || name.starts_with("slot-") {
                    remove_if_present(&entry.path())?;
                }
            }
            Ok(self.target_dir.clone())
        })
    }

    /// Points `current` at a release that is already on the target (a rollback).
    pub fn activate(&self) -> io::Result<PathBuf> {
        self.as_owner(|| {
            let release = self.existing()?;
            self.point_current()?;
            self.touch()?;
            Ok(release)
        })
    }

    /// Swaps the symlink with one rename, so `current` always points at a complete release.
    fn point_current(&self) -> io::Result<()> {
        self.point("current")
    }

    /// Points the symlink `<target>/<name>` at this release, with one rename.
    fn point(&self, name: &str) -> io::Result<()> {
        let link = self.target_dir.join(format!(".{name}-{}", self.deployment_id));
        remove_if_present(&link)?;
        std::os::unix::fs::symlink(Path::new("releases").join(self.release_id.to_string()), &link)?;
        std::fs::rename(&link, self.target_dir.join(name))
    }

    /// Removes the oldest releases beyond `keep` (by when they last went live),
    /// never the live one; returns the ids removed.
    pub fn prune(&self, keep: u32) -> io::Result<Vec<i64>> {
        self.as_owner(|| self.prune_here(keep))
    }

    fn prune_here(&self, keep: u32) -> io::Result<Vec<i64>> {
        let live = self.current_release();
        let mut releases: Vec<(std::time::SystemTime, i64)> = Vec::new();
        for entry in std::fs::read_dir(self.releases())? {
            let entry = entry?;
            let Some(id) = entry.file_name().to_str().and_then(|n| n.parse::<i64>().ok()) else { continue };
            releases.push((entry.metadata()?.modified()?, id));
        }
        // Newest first; the live release always counts as the newest.
        releases.sort_by(|a, b| (Some(b.1) == live).cmp(&(Some(a.1) == live)).then(b.0.cmp(&a.0)));
        let mut removed = Vec::new();
        for (_, id) in releases.into_iter().skip(keep.max(1) as usize) {
            std::fs::remove_dir_all(self.releases().join(id.to_string()))?;
            removed.push(id);
        }
        Ok(removed)
    }

    /// Records that the release just went live again, so pruning counts it as recent.
    fn touch(&self) -> io::Result<()> {
        std::fs::File::open(self.release())?.set_modified(std::time::SystemTime::now())
    }

    /// The release `current` points at, if any.
    pub fn current_release(&self) -> Option<i64> {
        let target = self.as_owner(|| std::fs::read_link(self.current())).ok()?;
        target.file_name()?.to_str()?.parse().ok()
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_moves_incoming_into_place_and_repoints_current() {
        let dir = tempfile::tempdir().unwrap();
        let first = ReleasePaths::new(dir.path().into(), 1, 10);
        first.prepare().unwrap();
        std::fs::create_dir_all(first.incoming()).unwrap();
        std::fs::write(first.incoming().join("v"), "1").unwrap();
        first.switch().unwrap();
        assert_eq!(first.current_release(), Some(1));
        assert_eq!(std::fs::read_to_string(first.current().join("v")).unwrap(), "1");

        let again = ReleasePaths { deployment_id: 11, ..first.clone() };
        again.prepare().unwrap();
        std::fs::create_dir_all(again.incoming()).unwrap();
        std::fs::write(again.incoming().join("v"), "1b").unwrap();
        again.switch().unwrap();
        assert_eq!(std::fs::read_to_string(again.current().join("v")).unwrap(), "1b");
        let leftovers: Vec<_> = std::fs::read_dir(again.releases()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only the live release remains");

        let second = ReleasePaths { release_id: 2, deployment_id: 12, ..first.clone() };
        second.prepare().unwrap();
        std::fs::create_dir_all(second.incoming()).unwrap();
        second.switch().unwrap();
        assert_eq!(second.current_release(), Some(2));
        let back = ReleasePaths { release_id: 1, deployment_id: 13, ..first.clone() };
        back.activate().unwrap();
        assert_eq!(back.current_release(), Some(1), "rolled back without a rebuild");
        let gone = ReleasePaths { release_id: 9, deployment_id: 14, ..first };
        assert!(gone.activate().unwrap_err().to_string().contains("no longer on this target"));
        assert_eq!(gone.current_release(), Some(1), "a failed activation changes nothing");
    }

    #[test]
    fn pruning_keeps_the_live_release_and_the_most_recent_others() {
        let dir = tempfile::tempdir().unwrap();
        let deploy = |release_id: i64| {
            let paths = ReleasePaths::new(dir.path().into(), release_id, 100 + release_id);
            paths.prepare().unwrap();
            std::fs::create_dir_all(paths.incoming()).unwrap();
            paths.switch().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            paths
        };
        for id in 1..=4 {
            deploy(id);
        }
        // Release 1 goes live again (a rollback): it is recent now.
        let one = ReleasePaths::new(dir.path().into(), 1, 200);
        one.activate().unwrap();
        let removed = one.prune(2).unwrap();
        assert_eq!(removed.len(), 2);
        assert!(removed.contains(&2) && removed.contains(&3), "{removed:?}");
        assert_eq!(one.current_release(), Some(1));
        assert!(one.releases().join("4").is_dir(), "the most recent other release stays for a rollback");
    }
}
