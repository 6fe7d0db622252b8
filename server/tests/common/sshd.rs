//! Test hosts reached over SSH: real OpenSSH servers (Debian's `openssh-server`), one
//! per host. As root, each host is a network namespace of its own (`ip netns`, a veth
//! pair to this one), so every host has its own `localhost` and its link can be cut
//! mid-step (`ip link set … down`); otherwise each is an sshd on a loopback port. The
//! hosts share this machine's file system and process table, so a test can look at
//! what a step left (files, processes) directly.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Hosts made by this process so far: part of each host's names and addresses.
static MADE: AtomicU32 = AtomicU32::new(0);

pub struct TestHost {
    /// Where Ferry connects.
    pub address: String,
    pub port: u16,
    /// The user Ferry signs in as (the one running the tests).
    pub user: String,
    /// The host key it presents, as an OpenSSH public key line.
    pub host_key: String,
    /// A directory of its own for releases.
    pub deploy_dir: PathBuf,
    /// sshd's log (LogLevel DEBUG1: it shows the commands run).
    pub log: PathBuf,
    /// Its network namespace and the host side of its link, when it has them.
    pub netns: Option<(String, String)>,
    dir: PathBuf,
    sshd: Child,
    authorized: PathBuf,
}

pub struct TestHosts {
    pub hosts: Vec<TestHost>,
    /// The `authorized_keys` every host reads (at each sign-in).
    pub authorized: PathBuf,
    _tmp: tempfile::TempDir,
}

/// Whether this run can make network namespaces (root, with `ip`).
pub fn namespaces_available() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    root && ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].iter().any(|p| Path::new(p).exists())
}

impl TestHosts {
    /// `count` hosts, each trusting `authorized_key` (an OpenSSH public key line).
    pub fn start(count: usize, authorized_key: &str) -> Self {
        Self::start_with(count, authorized_key, "")
    }

    /// As `start`, with more lines for each host's `sshd_config` (a `ForceCommand`
    /// makes a host that answers every command its own way, as a hostile one would).
    pub fn start_with(count: usize, authorized_key: &str, extra_config: &str) -> Self {
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "the SSH tests need Debian's openssh-server (scripts/setup.sh --test)"
        );
        let tmp = tempfile::tempdir().unwrap();
        let authorized = tmp.path().join("authorized_keys");
        std::fs::write(&authorized, format!("{authorized_key}\n")).unwrap();
        if unsafe { libc::geteuid() } == 0 {
            // sshd's privilege separation directory.
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let hosts = (0..count).map(|_| TestHost::start(tmp.path(), &authorized, extra_config)).collect();
        TestHosts { hosts, authorized, _tmp: tmp }
    }
}

fn run(command: &str, args: &[&str]) {
    let out = Command::new(command).args(args).output().unwrap_or_else(|e| panic!("{command}: {e}"));
    assert!(out.status.success(), "{command} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The user Ferry signs in as. As root, a user of its own whose login shell is plain
/// `sh`, as a deploy user's is: root's shell here may run start-up files (this
/// machine's runs `pyenv init`, 100 ms a session) that say nothing about Ferry.
/// Otherwise the user running the tests (a non-root sshd lets in only its own user).
pub fn user_name() -> String {
    if unsafe { libc::geteuid() } == 0 {
        let exists = Command::new("id").arg(TEST_USER).output().is_ok_and(|o| o.status.success());
        if !exists {
            // Two test processes may race to add it; the loser finds it there.
            // `*`: no password, but not locked (sshd refuses a locked account a key too).
            let _ = Command::new("useradd")
                .args(["--system", "--shell", "/bin/sh", "--home-dir", "/nonexistent", "--no-create-home"])
                .args(["--password", "*", TEST_USER])
                .output();
        }
        return TEST_USER.to_string();
    }
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The user SSH test hosts let in when the tests run as root.
pub const TEST_USER: &str = "ferry-ssh-test";

/// Gives `path` (a host's directory) to the hosts' user.
fn give_to_user(path: &Path, user: &str) {
    if unsafe { libc::geteuid() } == 0 {
        run("chown", &["-R", user, path.to_str().unwrap()]);
    }
}

impl TestHost {
    fn start(root: &Path, authorized: &Path, extra_config: &str) -> Self {
        let made = MADE.fetch_add(1, Ordering::SeqCst);
        let netns = if namespaces_available() { Some(make_namespace(made)) } else { None };
        let (address, port) = match &netns {
            Some(_) => (namespace_address(made, 2), 22),
            None => ("127.0.0.1".to_string(), super::free_port()),
        };
        let inside = netns.as_ref().map(|(ns, _)| ns.clone());
        Self::spawn(root.join(format!("host{made}")), authorized, (address, port), inside, netns, extra_config)
    }

    /// Another host in this one's namespace, listening on its `localhost` only: it can
    /// be reached through this one as a jump host, and not otherwise.
    pub fn behind(&self) -> TestHost {
        let (ns, _) = self.netns.as_ref().expect("a host behind another needs network namespaces (root)");
        let made = MADE.fetch_add(1, Ordering::SeqCst);
        let dir = self.dir.parent().unwrap().join(format!("host{made}"));
        Self::spawn(dir, &self.authorized, ("127.0.0.1".into(), 2222), Some(ns.clone()), None, "")
    }

    /// sshd for `dir`, in namespace `inside` when given; `netns` is the namespace the
    /// host owns (removed with it).
    fn spawn(
        dir: PathBuf,
        authorized: &Path,
        (address, port): (String, u16),
        inside: Option<String>,
        netns: Option<(String, String)>,
        extra_config: &str,
    ) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let deploy_dir = dir.join("srv");
        std::fs::create_dir_all(&deploy_dir).unwrap();
        let user = user_name();
        give_to_user(&deploy_dir, &user);
        let key = dir.join("host_key");
        run("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()]);
        let host_key = std::fs::read_to_string(dir.join("host_key.pub")).unwrap().trim().to_string();
        let log = dir.join("sshd.log");
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress {address}\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nAllowTcpForwarding yes\n\
                 ClientAliveInterval 1\nClientAliveCountMax 3\nLogLevel DEBUG1\nMaxSessions 64\nMaxStartups 100\n\
                 Subsystem sftp /usr/lib/openssh/sftp-server\n{extra_config}\n",
                key.display(),
                dir.join("sshd.pid").display(),
                authorized.display(),
            ),
        )
        .unwrap();
        let mut command = match &inside {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "/usr/sbin/sshd"]);
                c
            }
            None => Command::new("/usr/sbin/sshd"),
        };
        // -E: sshd's log goes to the file only (with -e, a session's own messages would
        // reach the client as the step's stderr).
        command.args(["-D", "-E", log.to_str().unwrap(), "-f", config.to_str().unwrap()]);
        let sshd = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("starting sshd");
        let authorized = authorized.to_path_buf();
        let host = TestHost { address, port, user, host_key, deploy_dir, log, netns, dir, sshd, authorized };
        if inside.is_none() || host.netns.is_some() {
            host.wait_listening();
        } else {
            host.wait_listening_inside(inside.as_deref().unwrap());
        }
        host
    }

    /// Waits for a host only reachable from inside namespace `ns`.
    fn wait_listening_inside(&self, ns: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let probe = format!("exec 3<>/dev/tcp/{}/{}", self.address, self.port);
        loop {
            let ok = Command::new("ip").args(["netns", "exec", ns, "bash", "-c", &probe]).output();
            if ok.is_ok_and(|o| o.status.success()) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "sshd behind the jump host never listened:\n{}",
                self.sshd_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_listening(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if std::net::TcpStream::connect_timeout(
                &format!("{}:{}", self.address, self.port).parse().unwrap(),
                Duration::from_millis(500),
            )
            .is_ok()
            {
                return;
            }
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            assert!(std::time::Instant::now() < deadline, "sshd on {} never listened:\n{log}", self.address);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Cuts the host's link (as a pulled cable would): nothing gets through either way.
    pub fn cut_link(&self) {
        let (_, outside) = self.netns.as_ref().expect("cutting a link needs network namespaces (root)");
        run("ip", &["link", "set", outside, "down"]);
    }

    /// Processes the host's steps left: those in its namespace, or working in its
    /// directory; never sshd itself.
    pub fn processes(&self) -> Vec<i32> {
        let sshd = self.sshd.id() as i32;
        let mut pids: Vec<i32> = match &self.netns {
            Some((ns, _)) => {
                let out = Command::new("ip").args(["netns", "pids", ns]).output().unwrap();
                String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect()
            }
            None => Vec::new(),
        };
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
            if std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&self.dir)) {
                pids.push(pid);
            }
        }
        pids.sort();
        pids.dedup();
        pids.retain(|&pid| pid != sshd && pid != std::process::id() as i32);
        pids
    }

    pub fn sshd_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Replaces the host's key (as a reinstalled machine, or an impostor, would).
    pub fn other_host_key(&self) -> String {
        let key = self.dir.join("other_key");
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(self.dir.join("other_key.pub"));
        run("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()]);
        std::fs::read_to_string(self.dir.join("other_key.pub")).unwrap().trim().to_string()
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        // What the steps started there (the apps) goes first, then sshd.
        for pid in self.processes() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        if let Some((ns, outside)) = &self.netns {
            let _ = Command::new("ip").args(["link", "del", outside]).output();
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// A /30 of its own per host, from this process's id and count: `last` 1 is this
/// side of the link, 2 the host.
fn namespace_address(made: u32, last: u32) -> String {
    let pid = std::process::id();
    format!("10.{}.{}.{}", 64 + pid % 128, made / 64, (made % 64) * 4 + last)
}

/// A namespace with a veth link to this one: this side .1, the host .2.
fn make_namespace(made: u32) -> (String, String) {
    let pid = std::process::id() % 100_000;
    let ns = format!("ferry-{pid}-{made}");
    let outside = format!("fo{pid}x{made}");
    let inside = format!("fi{pid}x{made}");
    let _ = Command::new("ip").args(["netns", "del", &ns]).output();
    run("ip", &["netns", "add", &ns]);
    run("ip", &["link", "add", &outside, "type", "veth", "peer", "name", &inside]);
    run("ip", &["link", "set", &inside, "netns", &ns]);
    run("ip", &["addr", "add", &format!("{}/30", namespace_address(made, 1)), "dev", &outside]);
    run("ip", &["link", "set", &outside, "up"]);
    run(
        "ip",
        &["netns", "exec", &ns, "ip", "addr", "add", &format!("{}/30", namespace_address(made, 2)), "dev", &inside],
    );
    run("ip", &["netns", "exec", &ns, "ip", "link", "set", &inside, "up"]);
    run("ip", &["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
    (ns, outside)
}
