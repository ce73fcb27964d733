//! Starting the `blackwatch` binary as a daemon in tests: spawn it with stderr piped, keep
//! every stderr line for failure messages, and wait for its `msg="listening on" address=ADDR` line.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A spawned daemon: `addr` is `None` when no `listening on` line came within the wait
/// (the process may have exited; `stderr` says why).
pub struct Spawned {
    pub child: Child,
    pub addr: Option<SocketAddr>,
    /// Every stderr line so far, for failure messages.
    pub stderr: Arc<Mutex<Vec<String>>>,
}

/// Spawns `cmd` (stdin and stdout null, stderr piped, `BLACKWATCH_LOG` unset) and waits up
/// to `wait` for the address it prints.
pub async fn spawn_listening(mut cmd: Command, wait: Duration) -> Spawned {
    let mut child = cmd
        .env_remove("BLACKWATCH_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting blackwatch");
    let stderr = child.stderr.take().expect("piped stderr");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let all = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            all.lock().expect("stderr lines").push(line.clone());
            let _ = tx.send(line);
        }
    });
    let found = tokio::time::timeout(wait, async {
        while let Some(line) = rx.recv().await {
            if let Some(addr) = listen_address(&line) {
                return Some(addr);
            }
        }
        None
    })
    .await;
    Spawned {
        child,
        addr: found.ok().flatten(),
        stderr: lines,
    }
}

/// The address in the daemon's `listening on` log line, in either `--log.format`:
/// `… msg="listening on" address=127.0.0.1:PORT` or `{…,"msg":"listening on","address":"…"}`.
pub fn listen_address(line: &str) -> Option<SocketAddr> {
    let line = line.trim_end();
    let value = if line.contains(" msg=\"listening on\"") {
        let rest = line.split(" address=").nth(1)?;
        rest.split(' ').next()?
    } else if line.contains("\"msg\":\"listening on\"") {
        let rest = line.split("\"address\":\"").nth(1)?;
        rest.split('"').next()?
    } else {
        return None;
    };
    value.parse().ok()
}
