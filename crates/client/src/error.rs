//! The SDK's error, split the way the seed's response codes are: `Failure` when the request was
//! understood and refused (bad input, not found, name taken, no permission), `Error` when
//! something broke (network, I/O, the server).

use fedml_proto::ResponseCode;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Failure(String),
    #[error("{0}")]
    Error(String),
}

impl ClientError {
    pub fn code(&self) -> ResponseCode {
        match self {
            ClientError::Failure(_) => ResponseCode::Failure,
            ClientError::Error(_) => ResponseCode::Error,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ClientError::Failure(m) | ClientError::Error(m) => m,
        }
    }

    pub fn io(context: impl std::fmt::Display, e: std::io::Error) -> Self {
        ClientError::Error(format!("{context}: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;
