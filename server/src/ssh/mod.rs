//! Hosts reached over SSH, with nothing of Ferry installed on them: Ferry's own key
//! pair, the connection (host keys pinned, jump hosts, keepalives) and the `Machine`
//! the executor drives on such a host.

pub mod connector;
pub mod hosts;
pub mod keys;
pub mod machine;
pub mod scripts;
pub mod session;
