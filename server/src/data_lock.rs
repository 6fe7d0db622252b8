//! With SQLite, one Ferry process owns a data directory: two would each run the
//! environment locks, the queues and start-up recovery of their own, and fail each
//! other's deployments. The first process holds an exclusive lock on
//! `<data_dir>/ferry.lock` (released by the kernel however the process ends, even
//! SIGKILL); a second one is refused with a message naming the first.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Held for as long as the process serves the data directory.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

pub async fn acquire(data_dir: &Path) -> Result<DataDirLock, String> {
    let path = data_dir.join("ferry.lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    // A process that just ended (a restart) may hold the lock for a moment longer, as
    // may a child process between fork and exec: give it two seconds.
    let mut locked = false;
    for _ in 0..20 {
        // SAFETY: flock(2) on a descriptor this function owns; no memory is involved.
        locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if locked {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if !locked {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        let who = if holder.is_empty() { "another Ferry process".to_string() } else { format!("Ferry (pid {holder})") };
        return Err(format!(
            "{who} is already serving the data directory {} with SQLite, which allows one process: \
             stop it first, or run several replicas on PostgreSQL (database_url)",
            data_dir.display()
        ));
    }
    file.set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| writeln!(file, "{}", std::process::id()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(DataDirLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path()).await.unwrap();
        let refused = acquire(dir.path()).await.unwrap_err();
        assert!(refused.contains(&format!("pid {}", std::process::id())), "{refused}");
        drop(first);
        acquire(dir.path()).await.expect("free again");
    }
}
