//! Credentials for a database or broker login: a user name and a secret that is never printed.
//!
//! A target's URL may carry them (`postgres://app:secret@db/app`); `--user USER:SECRET` and
//! `--bearer TOKEN` (or a config file's `user` / `bearer`) take precedence over the URL's.

use crate::redact::{remember, Secret};

/// A user name, and the password that goes with it (absent: log in without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The user name, as the server knows it (printed: it is not a secret).
    pub user: String,
    /// The password; `Debug` and `Display` show `<redacted>`.
    pub password: Option<Secret>,
}

impl Login {
    /// A login as `user` with `password`; the password is remembered as a secret so that a
    /// server echoing it back cannot get it printed.
    pub fn new(user: impl Into<String>, password: Option<&str>) -> Login {
        if let Some(password) = password {
            remember(password);
        }
        Login {
            user: user.into(),
            password: password.map(Secret::new),
        }
    }

    /// The password, for the wire only; `""` when there is none.
    pub fn password(&self) -> &str {
        self.password.as_ref().map_or("", Secret::expose)
    }
}
