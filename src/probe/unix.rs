//! The unix prober (blackbox_exporter 0.28, `prober/unix.go`): the target is a socket path
//! (`@name` is Linux's abstract namespace, as Go dials it); connect, optionally TLS from the
//! first byte, then the tcp prober's `query_response` dialogue (`tcp::query_responses`) over
//! the unix stream. No name resolution, so none of the resolution metrics; the rest is the
//! tcp prober's: `probe_failed_due_to_regex` and `probe_failed_due_to_bytes` once connected,
//! `probe_expect_info`, and the TLS metrics (without the cipher) after a TLS dial or STARTTLS.
//!
//! TLS server names follow Go: a TLS dial verifies `tls_config.server_name`, else the target
//! up to its last `:` (so in practice the socket path, which no certificate names: set
//! `server_name` or `insecure_skip_verify`); STARTTLS has no default name at all. A name that
//! is not a host name is refused before the handshake (Go fails the verification instead);
//! with `insecure_skip_verify` the handshake goes ahead without SNI. The `hostname` URL
//! parameter does not apply, as upstream. A permission error reads as upstream's
//! `permission denied connecting to unix socket <path>: …`.

use std::io;

use tokio::net::UnixStream;

use super::module::UnixModule;
use super::tcp::{by_deadline, handshake, query_responses, Conn, Dialogue, FAILED_DUE_TO_BYTES};
use super::{ProbeCx, FAILED_DUE_TO_REGEX};

pub async fn probe(target: &str, m: &UnixModule, cx: &mut ProbeCx) -> bool {
    let conn = match dial(target, m, cx).await {
        Ok(conn) => conn,
        Err(e) => {
            cx.log.error("Error dialing unix", &[("err", &e)]);
            return false;
        }
    };
    cx.log.debug("Successfully dialed", &[]);
    cx.registry.set_gauge(&FAILED_DUE_TO_REGEX, 0.0);
    cx.registry.set_gauge(&FAILED_DUE_TO_BYTES, 0.0);
    let dialogue = Dialogue {
        steps: &m.query_response,
        tls_config: &m.tls_config,
        starttls_name: m.tls_config.server_name.clone(),
    };
    query_responses(conn, &dialogue, cx).await
}

/// Upstream's `dialUnix`: connect (and with `tls: true` the handshake) by the deadline.
async fn dial(target: &str, m: &UnixModule, cx: &mut ProbeCx) -> Result<Conn, String> {
    if m.tls {
        cx.log.debug("Dialing unix with TLS", &[]);
    } else {
        cx.log.debug("Dialing unix without TLS", &[]);
    }
    let stream = by_deadline(cx.deadline, connect(target))
        .await
        .map_err(|e| dial_error(target, &e))?;
    if !m.tls {
        return Ok(Box::new(stream));
    }
    // Go's tls.DialWithDialer: without a server name, the address up to its last colon.
    let name = match &m.tls_config.server_name {
        Some(n) => n.clone(),
        None => target
            .rfind(':')
            .map_or(target, |colon| &target[..colon])
            .to_string(),
    };
    handshake(Box::new(stream), &m.tls_config, Some(&name), cx).await
}

async fn connect(target: &str) -> io::Result<UnixStream> {
    if target.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "missing address",
        ));
    }
    #[cfg(target_os = "linux")]
    if let Some(name) = target.strip_prefix('@') {
        return connect_abstract(name.as_bytes().to_vec()).await;
    }
    UnixStream::connect(target).await
}

/// A socket in Linux's abstract namespace (Go's `@name`); connecting to one does not wait on
/// the file system, but std's connect is blocking, so it runs on the blocking pool.
#[cfg(target_os = "linux")]
async fn connect_abstract(name: Vec<u8>) -> io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let std_stream = tokio::task::spawn_blocking(move || {
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name)?;
        std::os::unix::net::UnixStream::connect_addr(&addr)
    })
    .await
    .map_err(io::Error::other)??;
    std_stream.set_nonblocking(true)?;
    UnixStream::from_std(std_stream)
}

/// Go's wording of a failed dial: `dial unix <path>: connect: <errno text>`, with upstream's
/// sentence in front for EACCES and EPERM.
fn dial_error(target: &str, e: &io::Error) -> String {
    let Some(code) = e.raw_os_error() else {
        return format!("dial unix {target}: {e}");
    };
    let text = go_errno_text(e);
    let err = format!("dial unix {target}: connect: {text}");
    if code == libc::EACCES || code == libc::EPERM {
        format!("permission denied connecting to unix socket {target}: {err}")
    } else {
        err
    }
}

/// An OS error as Go's `syscall.Errno` prints it: the C library's text, lower-cased first
/// letter, without Rust's `(os error N)`.
fn go_errno_text(e: &io::Error) -> String {
    let s = e.to_string();
    let s = match s.rfind(" (os error ") {
        Some(i) => &s[..i],
        None => s.as_str(),
    };
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_errors_read_as_go_prints_them() {
        let enoent = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(
            dial_error("/run/x.sock", &enoent),
            "dial unix /run/x.sock: connect: no such file or directory"
        );
        let eacces = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(
            dial_error("/run/x.sock", &eacces),
            "permission denied connecting to unix socket /run/x.sock: dial unix /run/x.sock: connect: permission denied"
        );
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(
            dial_error("@abs", &refused),
            "dial unix @abs: connect: connection refused"
        );
    }
}
