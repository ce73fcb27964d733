//! `basic_auth_users`: the bcrypt check behind `Authorization: Basic`, with the
//! exporter-toolkit's result cache and a decoy hash so unknown users cost the same time.

use super::*;

/// A bcrypt hash of "fakepassword", compared for unknown users so that response time does not
/// tell which user names exist (the toolkit's decoy).
const DECOY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// Cached bcrypt results; cleared when it reaches this many entries.
const AUTH_CACHE_MAX: usize = 1024;

/// What a request's `Authorization` header amounts to.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// No users configured, or valid credentials.
    Allowed,
    Denied,
}

/// `Basic base64(user:pass)` → (user, pass), as Go's `Request.BasicAuth`.
fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("basic ") {
        return None;
    }
    let decoded = base64::Engine::decode(&crate::base::go::BASE64_STD, rest.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (u, p) = decoded.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

impl Web {
    /// Checks an `Authorization` header value against `basic_auth_users`.
    pub async fn check_basic_auth(&self, authorization: Option<&[u8]>) -> AuthOutcome {
        let cfg = self.current();
        if cfg.users.is_empty() {
            return AuthOutcome::Allowed;
        }
        let Some((user, pass)) = authorization.and_then(parse_basic) else {
            return AuthOutcome::Denied;
        };
        let (hash, valid_user) = match cfg.users.get(&user) {
            Some(h) => (h.expose().to_string(), true),
            None => (DECOY_HASH.to_string(), false),
        };
        let mut h = Sha256::new();
        for part in [user.as_bytes(), hash.as_bytes(), pass.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        let key: [u8; 32] = h.finalize().into();
        let cached = crate::base::sync::lock(&self.auth_cache).get(&key).copied();
        let ok = match cached {
            Some(ok) => ok,
            None => {
                let _guard = self.bcrypt_lock.lock().await;
                let ok = tokio::task::spawn_blocking(move || bcrypt::verify(pass, &hash))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or(false)
                    && valid_user;
                {
                    let mut c = crate::base::sync::lock(&self.auth_cache);
                    if c.len() >= AUTH_CACHE_MAX {
                        c.clear();
                    }
                    c.insert(key, ok);
                }
                ok
            }
        };
        if ok {
            AuthOutcome::Allowed
        } else {
            AuthOutcome::Denied
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_basic_credentials() {
        // "alice:s3cret" and "bob:" and "u:p:q" (the password keeps later colons).
        assert_eq!(
            parse_basic(b"Basic YWxpY2U6czNjcmV0"),
            Some(("alice".into(), "s3cret".into()))
        );
        assert_eq!(
            parse_basic(b"basic Ym9iOg=="),
            Some(("bob".into(), String::new()))
        );
        assert_eq!(
            parse_basic(b"Basic dTpwOnE="),
            Some(("u".into(), "p:q".into()))
        );
        assert_eq!(parse_basic(b"Bearer YWxpY2U6czNjcmV0"), None);
        assert_eq!(parse_basic(b"Basic !!!!"), None);
        assert_eq!(parse_basic(b"Basic YWxpY2U"), None);
        assert_eq!(parse_basic(b"Basic bm9jb2xvbg=="), None);
    }
}
