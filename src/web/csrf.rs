//! One-time form tokens (the synchronizer token pattern): a token is 128 random bits, issued
//! with the confirmation page of one action for one actor, kept in this process's memory, and
//! consumed by the first POST that presents it, whatever the outcome.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most this many outstanding tokens; beyond it the ones closest to expiry are dropped.
const MAX_TOKENS: usize = 10_000;

/// The tokens issued and not yet used or expired.
pub(crate) struct Tokens {
    ttl: Duration,
    issued: Mutex<HashMap<String, Issued>>,
}

struct Issued {
    /// What the token allows: one action, by one actor.
    binding: String,
    expires: Instant,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No token in the form.
    Missing,
    /// Never issued, already used, or expired.
    Unknown,
    /// Issued for another action or another actor.
    OtherAction,
}

impl Tokens {
    pub(crate) fn new(ttl: Duration) -> Self {
        Tokens {
            ttl,
            issued: Mutex::new(HashMap::new()),
        }
    }

    /// A fresh token allowing `binding` once; `None` if the system has no randomness to give.
    pub(crate) fn issue(&self, binding: String) -> Option<String> {
        let token = random_hex()?;
        let now = Instant::now();
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        if issued.len() >= MAX_TOKENS {
            issued.retain(|_, t| t.expires > now);
        }
        while issued.len() >= MAX_TOKENS {
            let oldest = issued
                .iter()
                .min_by_key(|(_, t)| t.expires)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => issued.remove(&k),
                None => break,
            };
        }
        issued.insert(
            token.clone(),
            Issued {
                binding,
                expires: now + self.ttl,
            },
        );
        Some(token)
    }

    /// Uses up `token` (it can never be used again) and checks that it allows `binding`.
    pub(crate) fn consume(&self, token: Option<&str>, binding: &str) -> Result<(), Refused> {
        let token = token.filter(|t| !t.is_empty()).ok_or(Refused::Missing)?;
        let found = self
            .issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token)
            .ok_or(Refused::Unknown)?;
        if found.expires <= Instant::now() {
            return Err(Refused::Unknown);
        }
        if found.binding != binding {
            return Err(Refused::OtherAction);
        }
        Ok(())
    }
}

/// 128 random bits as 32 hex digits, from the operating system.
pub(crate) fn random_hex() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_works_once_for_its_action() {
        let tokens = Tokens::new(Duration::from_secs(60));
        let t = tokens.issue("undo accounts 1".into()).unwrap();
        assert_eq!(
            tokens.consume(Some(&t), "undo accounts 2"),
            Err(Refused::OtherAction)
        );
        let t = tokens.issue("undo accounts 1".into()).unwrap();
        assert_eq!(tokens.consume(Some(&t), "undo accounts 1"), Ok(()));
        assert_eq!(
            tokens.consume(Some(&t), "undo accounts 1"),
            Err(Refused::Unknown)
        );
        assert_eq!(tokens.consume(None, "x"), Err(Refused::Missing));
        assert_eq!(tokens.consume(Some(""), "x"), Err(Refused::Missing));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let tokens = Tokens::new(Duration::ZERO);
        let t = tokens.issue("redo t 1".into()).unwrap();
        assert_eq!(tokens.consume(Some(&t), "redo t 1"), Err(Refused::Unknown));
    }
}
