//! Starting the `blackwatch` binary as a daemon in tests: spawn it with stderr piped, keep
//! every stderr line for failure messages, and wait for its `listening on ADDR` line.

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
            if let Some(rest) = line.strip_prefix("listening on ") {
                return rest.trim().parse::<SocketAddr>().ok();
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
