//! Request bodies a use case reads itself: a large upload (a plugin's component) arrives as an
//! [`Upload`], and the use case reads it only after authorizing the caller, so a refused
//! caller's bytes are never read, and never more than a limit is held.

use async_trait::async_trait;

use crate::{AppError, Result};

/// Why the next chunk of an upload could not be read (the client went away, say).
pub type UploadError = Box<dyn std::error::Error + Send + Sync>;

/// A body as it arrives, chunk by chunk.
#[async_trait]
pub trait Upload: Send {
    /// The next chunk, or `None` at the end.
    async fn next_chunk(&mut self) -> Option<std::result::Result<Vec<u8>, UploadError>>;
}

/// A body already in memory (a first-party plugin, a download) is one chunk.
#[async_trait]
impl Upload for Vec<u8> {
    async fn next_chunk(&mut self) -> Option<std::result::Result<Vec<u8>, UploadError>> {
        (!self.is_empty()).then(|| Ok(std::mem::take(self)))
    }
}

/// Reads `upload` whole, refusing it as too large once it passes `limit` bytes: the rest is
/// never read. `what` names the body in errors ("a component").
///
/// # Errors
/// [`AppError::TooLarge`] past the limit; invalid input when the body cannot be read.
pub async fn read_to_limit(upload: &mut dyn Upload, limit: usize, what: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    while let Some(chunk) = upload.next_chunk().await {
        let chunk = chunk.map_err(|e| {
            AppError::invalid("body", format!("reading {what} from the request: {e}"))
        })?;
        if bytes.len() + chunk.len() > limit {
            return Err(AppError::TooLarge(format!(
                "{what} is at most {limit} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upload of `chunks` chunks of 4 bytes that counts what was read from it.
    struct Counted {
        chunks: usize,
        read: usize,
    }

    #[async_trait]
    impl Upload for Counted {
        async fn next_chunk(&mut self) -> Option<std::result::Result<Vec<u8>, UploadError>> {
            (self.read < self.chunks).then(|| {
                self.read += 1;
                Ok(vec![7; 4])
            })
        }
    }

    #[tokio::test]
    async fn reading_stops_at_the_limit() {
        let mut small = Counted { chunks: 3, read: 0 };
        let bytes = read_to_limit(&mut small, 12, "a body").await.unwrap();
        assert_eq!(bytes.len(), 12);
        let mut large = Counted {
            chunks: 1000,
            read: 0,
        };
        let refused = read_to_limit(&mut large, 12, "a body").await.unwrap_err();
        assert!(matches!(refused, AppError::TooLarge(ref m) if m == "a body is at most 12 bytes"));
        assert_eq!(
            large.read, 4,
            "nothing is read past the chunk that passes the limit"
        );
    }

    #[tokio::test]
    async fn bytes_in_memory_are_one_chunk() {
        let mut whole = vec![1, 2, 3];
        assert_eq!(read_to_limit(&mut whole, 3, "x").await.unwrap(), [1, 2, 3]);
        assert!(read_to_limit(&mut vec![0; 4], 3, "x").await.is_err());
    }
}
