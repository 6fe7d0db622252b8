//! Who repository code runs as on this machine. When Ferry runs as root, builds and
//! the built-in agent's steps run as an unprivileged user (`step_user`, default
//! `ferry-build`), never as root: with the subordinate ids that `/etc/subuid` and
//! `/etc/subgid` give that user, each project gets its own uid and gid (the range's
//! start plus the project's id), so one project's code cannot read another's releases
//! or signal its processes. Without such a range, every project runs as the user
//! itself (still kept from Ferry's key and database, not from each other).
//! When Ferry runs as an ordinary user, steps run as that user.

use std::path::Path;

use ferry_engine::process::RunAs;

#[derive(Debug, Clone, Default)]
pub struct StepUsers {
    ids: Option<Ids>,
}

#[derive(Debug, Clone)]
enum Ids {
    /// One user for every project.
    Shared(RunAs),
    /// Project `p` runs as `uid + p`, `gid + p`; ids `1..count`.
    PerProject { uid: u32, gid: u32, count: u32 },
}

/// A user's subordinate id range, as `/etc/subuid` and `/etc/subgid` list it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    start: u32,
    count: u32,
}

impl StepUsers {
    /// Steps run as Ferry's own user.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether steps run as other users than Ferry's.
    pub fn active(&self) -> bool {
        self.ids.is_some()
    }

    /// The users of `step_user` when this process may switch users (root, or a user
    /// of its own with the capabilities the packaged service is given); an error names
    /// what to do when the user does not exist.
    pub fn resolve(step_user: &str) -> Result<Self, String> {
        if !can_switch_users() {
            return Ok(Self::none());
        }
        if step_user.is_empty() {
            tracing::warn!("step_user is empty: repository code runs as root and can read Ferry's key and database");
            return Ok(Self::none());
        }
        let Some(user) = lookup(step_user) else {
            return Err(format!(
                "step_user `{step_user}` does not exist. Ferry runs as root, so build and deploy steps run as \
                 that unprivileged user: create it (scripts/setup.sh does: `useradd --system {step_user}`, with \
                 subordinate ids for one uid per project), or set step_user = \"\" to run steps as root \
                 (they can then read every project's secrets)"
            ));
        };
        let read = |file: &str| std::fs::read_to_string(file).unwrap_or_default();
        let ranges = (
            subordinate(&read("/etc/subuid"), step_user, user.uid),
            subordinate(&read("/etc/subgid"), step_user, user.uid),
        );
        let ids = match ranges {
            (Some(uids), Some(gids)) => {
                Ids::PerProject { uid: uids.start, gid: gids.start, count: uids.count.min(gids.count) }
            }
            _ => {
                tracing::warn!(
                    step_user,
                    "no subordinate ids for step_user in /etc/subuid and /etc/subgid: every project's steps run \
                     as that one user, so projects are not kept from each other's files"
                );
                Ids::Shared(user)
            }
        };
        Ok(Self { ids: Some(ids) })
    }

    /// Who runs project `project_id`'s steps: `None` for Ferry's own user.
    pub fn for_project(&self, project_id: i64) -> Result<Option<RunAs>, String> {
        match &self.ids {
            None => Ok(None),
            Some(Ids::Shared(user)) => Ok(Some(*user)),
            Some(Ids::PerProject { uid, gid, count }) => match u32::try_from(project_id) {
                Ok(p) if p > 0 && p < *count => Ok(Some(RunAs { uid: uid + p, gid: gid + p })),
                _ => Err(format!(
                    "project {project_id} has no user of its own: step_user's subordinate id range has {count} ids"
                )),
            },
        }
    }
}

/// The capabilities running steps as other users takes: `CAP_CHOWN` (their target
/// directories), `CAP_KILL` (their processes), `CAP_SETGID` and `CAP_SETUID`.
const SWITCHING_USERS: u64 = 1 << 0 | 1 << 5 | 1 << 6 | 1 << 7;

/// Whether this process runs as root or holds every capability of `SWITCHING_USERS`
/// (systemd's `AmbientCapabilities` in the package's unit).
pub fn can_switch_users() -> bool {
    // SAFETY: reads this process's effective uid.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    effective_capabilities(&status).is_some_and(|held| held & SWITCHING_USERS == SWITCHING_USERS)
}

/// The `CapEff` mask of a `/proc/<pid>/status` text.
fn effective_capabilities(status: &str) -> Option<u64> {
    let mask = status.lines().find_map(|line| line.strip_prefix("CapEff:"))?;
    u64::from_str_radix(mask.trim(), 16).ok()
}

fn lookup(name: &str) -> Option<RunAs> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer to static storage or null; it is read at
    // once. Only start-up calls it.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return None;
    }
    let entry = unsafe { &*entry };
    Some(RunAs { uid: entry.pw_uid, gid: entry.pw_gid })
}

/// The first range that `/etc/subuid`-style `text` gives the user (by name or uid).
fn subordinate(text: &str, name: &str, uid: u32) -> Option<Range> {
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let owner = fields.next()?;
        if owner != name && owner.parse::<u32>().ok() != Some(uid) {
            return None;
        }
        let start = fields.next()?.parse().ok()?;
        let count = fields.next()?.parse().ok()?;
        Some(Range { start, count })
    })
}

/// Keeps the data directory from step users: they may pass through it to their own
/// target and build directories, and read the repositories (Ferry's copies they
/// clone from), but not list it or read its key, database, artifacts or anything
/// else Ferry keeps there.
pub fn protect_data_dir(data_dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(closed) = closed_ancestor(data_dir) {
        return Err(format!(
            "steps run as other users, who cannot reach the data directory {}: {} lets only its owner through. \
             Choose a data_dir they can reach (e.g. /var/lib/ferry), or `chmod o+x {}`",
            data_dir.display(),
            closed.display(),
            closed.display()
        ));
    }
    let set = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cannot restrict {}: {e}", path.display()))
    };
    set(data_dir, 0o711)?;
    for dir in ["targets", "builds", "repos"] {
        let path = data_dir.join(dir);
        std::fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    }
    let entries = std::fs::read_dir(data_dir).map_err(|e| format!("cannot read {}: {e}", data_dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.file_type().is_symlink() {
            continue;
        }
        match entry.file_name().to_str() {
            Some("targets" | "builds" | "repos") => set(&path, 0o711)?,
            _ => set(&path, meta.permissions().mode() & 0o700)?,
        }
    }
    Ok(())
}

/// The first directory above `dir` (an absolute path) that others may not pass through.
fn closed_ancestor(dir: &Path) -> Option<&Path> {
    use std::os::unix::fs::PermissionsExt;
    dir.ancestors().skip(1).find(|a| std::fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o001 == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_capabilities_are_read_from_the_status() {
        let status = "Name:\tferry\nCapInh:\t00000000000000e1\nCapEff:\t00000000000000e1\n";
        let held = effective_capabilities(status).unwrap();
        assert_eq!(held & SWITCHING_USERS, SWITCHING_USERS);
        let without_kill = effective_capabilities("CapEff:\t00000000000000c1\n").unwrap();
        assert_ne!(without_kill & SWITCHING_USERS, SWITCHING_USERS);
        assert_eq!(effective_capabilities("Name:\tx\n"), None);
    }

    #[test]
    fn subordinate_ranges_are_found_by_name_or_uid() {
        let text = "alice:100000:65536\nferry-build:1879048192:65536\n";
        assert_eq!(subordinate(text, "ferry-build", 998), Some(Range { start: 1879048192, count: 65536 }));
        assert_eq!(subordinate("998:5000:10\n", "ferry-build", 998), Some(Range { start: 5000, count: 10 }));
        assert_eq!(subordinate(text, "bob", 1001), None);
        assert_eq!(subordinate("ferry-build:x:1\n", "ferry-build", 998), None);
    }

    #[test]
    fn a_data_directory_behind_a_private_one_is_named() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let private = tmp.path().join("home");
        std::fs::create_dir_all(private.join("ferry/data")).unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(closed_ancestor(&private.join("ferry/data")), Some(private.as_path()));
        let error = protect_data_dir(&private.join("ferry/data")).unwrap_err();
        assert!(error.contains("chmod o+x") && error.contains("/home"), "{error}");
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o711)).unwrap();
        assert_eq!(closed_ancestor(&private.join("ferry/data")), None);
    }

    #[test]
    fn each_project_has_its_own_ids_within_the_range() {
        let users = StepUsers { ids: Some(Ids::PerProject { uid: 5000, gid: 7000, count: 10 }) };
        assert_eq!(users.for_project(3).unwrap(), Some(RunAs { uid: 5003, gid: 7003 }));
        assert!(users.for_project(10).unwrap_err().contains("10 ids"));
        assert!(users.for_project(0).is_err());
        assert_eq!(StepUsers::none().for_project(3).unwrap(), None);
    }
}
