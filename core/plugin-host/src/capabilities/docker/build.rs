//! An image build: its Dockerfile read from the build context and checked before the build
//! starts (every image it reads must be one the deployment may use), then the context sent to
//! the daemon and the build's output followed.

use std::{
    collections::{HashMap, VecDeque},
    io::Read,
    path::{Component, Path, PathBuf},
};

use futures_util::StreamExt;

use super::{DockerScope, dockerfile, engine_error, prefixed, request::BuildRequest};
use crate::bindings::{docker_types::OpOutput, types::Error as WitError};

/// The largest build context sent to Docker, archived.
pub const BUILD_CONTEXT_BYTES: usize = 512 << 20;

/// The largest Dockerfile the host reads and checks.
pub const DOCKERFILE_BYTES: u64 = 1 << 20;

/// Lines of build output kept to explain a failed build.
const BUILD_OUTPUT_LINES: usize = 20;

/// An archive in memory that refuses to grow past [`BUILD_CONTEXT_BYTES`].
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + bytes.len() > BUILD_CONTEXT_BYTES {
            return Err(std::io::ErrorKind::FileTooLarge.into());
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs a checked build: reads and checks its Dockerfile, archives its context, builds, and
/// answers the image's id.
pub(super) async fn run(scope: &DockerScope, build: BuildRequest) -> Result<OpOutput, WitError> {
    let tag = build.options.t.clone().unwrap_or_default();
    let context = scope.build_context(&build.context)?;
    let dockerfile = build.options.dockerfile.clone();
    let text = {
        let (context, dockerfile) = (context.clone(), dockerfile.clone());
        tokio::task::spawn_blocking(move || read_dockerfile(&context, &dockerfile))
            .await
            .map_err(|e| WitError::Internal(format!("reading the Dockerfile: {e}")))??
    };
    check_dockerfile(
        scope,
        &dockerfile,
        &text,
        build.options.buildargs.as_ref().unwrap_or(&HashMap::new()),
    )?;
    let archive = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        let mut tar = tar::Builder::new(Capped(Vec::new()));
        // Symlinks go into the archive as links: nothing outside the context is read.
        tar.follow_symlinks(false);
        tar.append_dir_all(".", &context)?;
        Ok(tar.into_inner()?.0)
    })
    .await
    .map_err(|e| WitError::Internal(format!("archiving the build context: {e}")))?
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::FileTooLarge => WitError::InvalidInput(format!(
            "the build context is larger than {BUILD_CONTEXT_BYTES} bytes"
        )),
        _ => WitError::Internal(format!("archiving the build context: {e}")),
    })?;
    let mut output = VecDeque::with_capacity(BUILD_OUTPUT_LINES);
    let mut stream = scope.client.build_image(
        build.options,
        None,
        Some(bollard::body_full(archive.into())),
    );
    while let Some(item) = stream.next().await {
        let failure = match item {
            Ok(info) => {
                for line in info.stream.iter().flat_map(|s| s.lines()) {
                    if output.len() == BUILD_OUTPUT_LINES {
                        output.pop_front();
                    }
                    output.push_back(line.to_owned());
                }
                match info.error_detail.and_then(|d| d.message) {
                    Some(message) => message,
                    None => continue,
                }
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => error,
            Err(e) => return Err(engine_error(e)),
        };
        let tail: Vec<String> = output.into_iter().collect();
        return Err(WitError::InvalidInput(format!(
            "the build failed: {failure}\n{}",
            tail.join("\n")
        )));
    }
    let found = scope
        .client
        .inspect_image(&tag)
        .await
        .map_err(engine_error)?;
    Ok(OpOutput::Image(found.id.unwrap_or_default()))
}

/// The Dockerfile's path inside the context, without `.` components.
fn dockerfile_path(dockerfile: &str) -> PathBuf {
    Path::new(dockerfile)
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

/// Reads the Dockerfile `dockerfile` (a relative path the request checked) from `context`:
/// a regular file, reached through no symlink, of at most [`DOCKERFILE_BYTES`]. Errors name
/// the Dockerfile as the guest gave it, never a host path.
fn read_dockerfile(context: &Path, dockerfile: &str) -> Result<String, WitError> {
    let mut path = context.to_path_buf();
    let mut metadata = None;
    for component in dockerfile_path(dockerfile).components() {
        path.push(component);
        let found = std::fs::symlink_metadata(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => WitError::InvalidInput(format!(
                "the build context has no Dockerfile {dockerfile:?}"
            )),
            kind => WitError::Internal(format!("reading the Dockerfile {dockerfile:?}: {kind}")),
        })?;
        if found.file_type().is_symlink() {
            return Err(WitError::Denied(format!(
                "dockerfile {dockerfile:?} is or passes through a symlink: the host reads only \
                 files inside the build context"
            )));
        }
        metadata = Some(found);
    }
    if !metadata.is_some_and(|m| m.is_file()) {
        return Err(WitError::InvalidInput(format!(
            "dockerfile {dockerfile:?} is not a file"
        )));
    }
    let failed = |e: std::io::Error| {
        WitError::Internal(format!(
            "reading the Dockerfile {dockerfile:?}: {}",
            e.kind()
        ))
    };
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .map_err(failed)?
        .take(DOCKERFILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    if bytes.len() as u64 > DOCKERFILE_BYTES {
        return Err(WitError::InvalidInput(format!(
            "dockerfile {dockerfile:?} is larger than {DOCKERFILE_BYTES} bytes"
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| WitError::InvalidInput(format!("dockerfile {dockerfile:?} is not UTF-8")))
}

/// Checks every image the Dockerfile reads, after substituting `build_args`: each must be an
/// image the deployment may use; a Dockerfile whose images cannot be told is `denied`.
fn check_dockerfile(
    scope: &DockerScope,
    dockerfile: &str,
    text: &str,
    build_args: &HashMap<String, String>,
) -> Result<(), WitError> {
    let used = dockerfile::images(text, build_args)
        .map_err(|e| WitError::Denied(format!("dockerfile {dockerfile:?}: {e}")))?;
    for image in used {
        scope.check_image_reference(&image.image).map_err(|e| {
            prefixed(
                &format!(
                    "dockerfile {dockerfile:?} line {} ({})",
                    image.line, image.place
                ),
                e,
            )
        })?;
    }
    Ok(())
}
