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
    /// Some of the input is not acceptable; each entry names the field and says why.
    #[error("{}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join(" "))]
    Validation(Vec<FieldError>),
    /// The request conflicts with the current state (e.g. the last owner leaving).
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts; try again after this many seconds.
    #[error("too many attempts; try again in {} minutes", retry_after_secs.div_ceil(60))]
    TooManyRequests {
        /// Seconds until the next attempt may succeed.
        retry_after_secs: u64,
    },
    /// Something on our side failed; the details are in the server's log.
    #[error("something went wrong on our side; please try again")]
    Internal,
    /// The request could not be read (missing or malformed arguments).
    #[error("the request was malformed: {0}")]
    BadRequest(String),
    /// The call itself failed: network, encoding, or a server-function protocol problem.
    #[error("could not reach DreamOps: {0}")]
    Transport(String),
}

/// Why one field of a form was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's name, as in the form.
    pub field: String,
    /// What is wrong, in words for the person filling the form.
    pub message: String,
}

impl AppError {
    /// A validation error on one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError { field: field.to_string(), message: message.into() }])
    }

    /// The message for `field`, if the error names it.
    pub fn message_for(&self, field: &str) -> Option<&str> {
        match self {
            AppError::Validation(errors) => errors.iter().find(|e| e.field == field).map(|e| e.message.as_str()),
            _ => None,
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthorized => 401,
            AppError::Forbidden => 403,
            AppError::NotFound => 404,
            AppError::Validation(_) => 422,
            AppError::BadRequest(_) => 400,
            AppError::Conflict(_) => 409,
            AppError::TooManyRequests { .. } => 429,
            AppError::Internal | AppError::Transport(_) => 500,
        }
    }
}

/// Collects field errors so that a form reports every problem at once.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    /// Keeps `result`'s value, or records its message against `field`.
    pub fn field<T, E: Into<String>>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.0.push(FieldError { field: field.to_string(), message: message.into() });
                None
            }
        }
    }

    /// Records a problem with `field`.
    pub fn fail(&mut self, field: &str, message: &str) {
        self.0.push(FieldError { field: field.to_string(), message: message.to_string() });
    }

    /// `Ok` when nothing was recorded, else every recorded problem.
    pub fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() { Ok(()) } else { Err(AppError::Validation(self.0)) }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => AppError::BadRequest(value.to_string()),
            other => AppError::Transport(other.to_string()),
        }
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

/// How the backend answers a failure the caller cannot act on: logged with what was being
/// done, answered as [`AppError::Internal`].
#[cfg(feature = "ssr")]
pub trait OrInternal<T> {
    /// The value, or the failure logged with `doing` ("saving a cluster failed").
    fn or_internal(self, doing: &str) -> Result<T, AppError>;
}

#[cfg(feature = "ssr")]
impl<T, E: std::error::Error + 'static> OrInternal<T> for Result<T, E> {
    fn or_internal(self, doing: &str) -> Result<T, AppError> {
        self.map_err(|error| unstorable_text(&error).unwrap_or_else(|| AppError::internal(doing, &error)))
    }
}

/// The database refusing text it cannot store — the NUL character, which PostgreSQL's
/// text and jsonb cannot hold — as the client's mistake it is, whatever the field.
#[cfg(feature = "ssr")]
fn unstorable_text(error: &(dyn std::error::Error + 'static)) -> Option<AppError> {
    let code = error.downcast_ref::<sqlx::Error>()?.as_database_error()?.code()?;
    // character_not_in_repertoire, untranslatable_character
    matches!(code.as_ref(), "22021" | "22P05")
        .then(|| AppError::BadRequest("text cannot contain the NUL character (\\u0000)".into()))
}

/// A database result whose one expected failure is a constraint the caller can act on.
#[cfg(feature = "ssr")]
pub trait OnConstraint<T> {
    /// The value; `refusal` when the query violated constraint `name`; any other failure
    /// logged with `doing` as internal.
    fn on_constraint(self, name: &str, refusal: impl FnOnce() -> AppError, doing: &str) -> Result<T, AppError>;
}

#[cfg(feature = "ssr")]
impl<T> OnConstraint<T> for Result<T, sqlx::Error> {
    fn on_constraint(self, name: &str, refusal: impl FnOnce() -> AppError, doing: &str) -> Result<T, AppError> {
        match self {
            Err(error) if violates(&error, name) => Err(refusal()),
            other => other.or_internal(doing),
        }
    }
}

/// Whether `error` is the database refusing a write for constraint `name`.
#[cfg(feature = "ssr")]
pub fn violates(error: &sqlx::Error, name: &str) -> bool {
    error.as_database_error().and_then(|error| error.constraint()) == Some(name)
}

/// Plain axum routes answer errors as JSON `{"error": "..."}` with the error's status.
#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        let status =
            axum::http::StatusCode::from_u16(self.status()).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(serde_json::json!({ "error": self.to_string() }))).into_response();
        if let AppError::TooManyRequests { retry_after_secs } = self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, retry_after_secs.into());
        }
        response
    }
}
