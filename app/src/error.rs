//! The one error type shared by server functions and the browser.
//!
//! It crosses the wire as JSON, so the browser sees the same variant the server chose.
//! Internal failures carry no detail: the cause is logged on the server, never sent.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// What went wrong, in terms a user of the product can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Not logged in, or the credentials are not valid.
    #[error("please log in to continue")]
    Unauthorized,
    /// Logged in, but this role may not do this.
    #[error("your role does not allow this")]
    Forbidden,
    /// The thing does not exist (or belongs to another team).
    #[error("not found")]
    NotFound,
    /// Something on our side failed; the details are in the server's log.
    #[error("something went wrong on our side; please try again")]
    Internal,
    /// The call itself failed: network, encoding, or a server-function protocol problem.
    #[error("could not reach DreamOps: {0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// Logs an unexpected failure with its cause chain and hides it behind [`AppError::Internal`].
    pub fn internal(context: &str, error: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(error = %chain, "{context}");
        AppError::Internal
    }
}
