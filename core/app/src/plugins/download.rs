//! Fetching a component from a URL, bounded in size and time.

use std::time::Duration;

use super::MAX_COMPONENT_BYTES;
use crate::{AppError, Result};

/// How long a download from a URL may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// Downloads the component at `url` (http or https), refusing one over
/// [`MAX_COMPONENT_BYTES`].
pub(super) async fn download(url: &str) -> Result<Vec<u8>> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| AppError::invalid("url", format!("invalid URL {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(AppError::invalid(
            "url",
            "only http and https URLs are supported",
        ));
    }
    let client = reqwest::Client::builder()
        .timeout(DOWNLOAD_TIMEOUT)
        .build()
        .map_err(|e| AppError::internal("building an HTTP client", e))?;
    let unavailable =
        |e: reqwest::Error| AppError::invalid("url", format!("downloading {url}: {e}"));
    let mut response = client.get(parsed).send().await.map_err(unavailable)?;
    if !response.status().is_success() {
        return Err(AppError::invalid(
            "url",
            format!("downloading {url} answered {}", response.status()),
        ));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
        if bytes.len() + chunk.len() > MAX_COMPONENT_BYTES {
            return Err(AppError::invalid(
                "url",
                format!("the component at {url} is larger than {MAX_COMPONENT_BYTES} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
