//! Ports for the processes a test starts (agents' apps, previews, stand-ins).
//!
//! Binding port 0 and closing the socket is not enough: the kernel hands the same
//! ephemeral port to the next outgoing connection or `bind(0)` of any process, and a
//! test's app then fails with EADDRINUSE (seen in CI). So ports are taken from a range
//! below the kernel's ephemeral range, which the kernel never hands out on its own, and
//! each is reserved with a lock file held until the test process exits, so parallel
//! tests and test binaries never share one.

use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Mutex;

/// Below Linux's default ephemeral range (32768–60999) and above the fixed ports the
/// end-to-end tests and demo apps use (8081–8083, 18080–19999).
const FIRST: u16 = 21000;
const LAST: u16 = 32000;

/// Lock files of the ports this process holds; dropping one would free its port.
static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());

fn lock_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("ferry-test-ports");
    std::fs::create_dir_all(&dir).expect("create the port lock directory");
    dir
}

/// Reserves `port` for this process if no other process holds it and nothing listens on it.
fn reserve(port: u16, held: &mut Vec<File>) -> bool {
    let Ok(file) =
        OpenOptions::new().create(true).truncate(false).write(true).open(lock_dir().join(format!("{port}.lock")))
    else {
        return false;
    };
    if file.try_lock().is_err() || TcpListener::bind(("127.0.0.1", port)).is_err() {
        return false;
    }
    held.push(file);
    true
}

/// `count` consecutive ports reserved for this test process; answers the first.
pub fn free_ports(count: u16) -> u16 {
    let span = LAST - FIRST - count;
    // Parallel processes start at different places so they rarely probe the same ports.
    let start = (std::process::id() as u64).wrapping_mul(7919).wrapping_add(rand::random::<u16>() as u64);
    let mut held = HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for step in 0..span as u64 {
        let first = FIRST + ((start + step) % span as u64) as u16;
        let before = held.len();
        if (first..first + count).all(|port| reserve(port, &mut held)) {
            return first;
        }
        // Give back what a partial run took (a held port stays locked while its file is open).
        held.truncate(before);
    }
    panic!("no {count} free consecutive ports between {FIRST} and {LAST}");
}
