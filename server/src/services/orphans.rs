//! Steps a killed server left behind. A step runs in a process group of its own, so
//! SIGKILL of the server does not end it: after a restart it would go on changing the
//! target beside the deployments that follow (two restarts of one app at once). When
//! start-up recovery ends an interrupted deployment, its step processes on this host
//! are killed too: the processes whose environment names that deployment and a target
//! under this server's directory, and that are not their own session's leader (an app
//! a step started with `setsid` to outlive it is the deployment's result, not a step).

use std::path::Path;

/// Kills what is left of deployment `deployment_id`'s steps under `targets`; returns
/// how many processes were killed.
pub fn kill_orphaned_steps(targets: &Path, deployment_id: i64) -> usize {
    let deployment = format!("FERRY_DEPLOYMENT_ID={deployment_id}");
    let target = format!("FERRY_TARGET_DIR={}", targets.display());
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let mut killed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if pid == std::process::id() as i32 {
            continue;
        }
        let Ok(environ) = read_environ(&entry.path()) else { continue };
        let mut vars = environ.split(|b| *b == 0).map(String::from_utf8_lossy);
        let (mut ours, mut here) = (false, false);
        for var in vars.by_ref() {
            ours |= var == deployment;
            here |= var.starts_with(&target);
        }
        if !(ours && here) {
            continue;
        }
        let Some((group, session)) = group_and_session(&entry.path()) else { continue };
        if group == session {
            continue; // its own session: an app the deployment started
        }
        // SAFETY: a signal to a process found above.
        if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
            killed += 1;
        }
    }
    killed
}

/// A process's environment. Ferry running as a user of its own (with capabilities,
/// not root) may read only its own processes' `environ`: it reads a step's with the
/// step user's file-system identity.
fn read_environ(proc_dir: &Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::MetadataExt;
    let path = proc_dir.join("environ");
    // SAFETY: reads this process's effective uid.
    if unsafe { libc::geteuid() } == 0 {
        return std::fs::read(path);
    }
    let owner = std::fs::metadata(proc_dir)?;
    let owner = ferry_engine::process::RunAs { uid: owner.uid(), gid: owner.gid() };
    ferry_engine::release_dir::as_owner(Some(owner), || std::fs::read(&path))
}

/// A process's group and session ids, from `/proc/<pid>/stat`.
fn group_and_session(proc_dir: &Path) -> Option<(i32, i32)> {
    let stat = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    // `pid (comm) state ppid pgrp session …`; the name may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(2);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_left_running_is_killed_and_an_app_in_its_own_session_is_not() {
        let targets = tempfile::tempdir().unwrap();
        let dir = targets.path().join("development/app");
        std::fs::create_dir_all(&dir).unwrap();
        let spawn = |script: &str| {
            let mut command = std::process::Command::new("sh");
            command
                .args(["-c", script])
                .env("FERRY_DEPLOYMENT_ID", "424242")
                .env("FERRY_TARGET_DIR", &dir)
                .current_dir(&dir);
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            command.spawn().unwrap()
        };
        let mut step = spawn("sleep 60");
        // An app started by a step: a session of its own, as the demo's restart does
        // (not a group leader, so `setsid` needs no fork and this child is the app).
        let mut app = std::process::Command::new("setsid")
            .args(["sleep", "60"])
            .env("FERRY_DEPLOYMENT_ID", "424242")
            .env("FERRY_TARGET_DIR", &dir)
            .spawn()
            .unwrap();
        let mut other = std::process::Command::new("sh")
            .args(["-c", "sleep 60"])
            .env("FERRY_DEPLOYMENT_ID", "424243")
            .env("FERRY_TARGET_DIR", &dir)
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        // The shell and its sleep, or only the sleep where the shell execs it.
        assert!(kill_orphaned_steps(targets.path(), 424242) >= 1);
        assert!(step.wait().unwrap().code().is_none(), "the step was killed");
        assert!(app.try_wait().unwrap().is_none(), "the app runs on");
        assert!(other.try_wait().unwrap().is_none(), "another deployment's step runs on");
        for child in [&mut app, &mut other] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
