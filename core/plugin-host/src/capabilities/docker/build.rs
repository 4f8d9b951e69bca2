//! An image build: its Dockerfile read from the build context and checked before the build
//! starts (every image it reads must be one the deployment may use), then the context streamed
//! to the daemon as a tar archive written while it is sent (never held whole in memory, and
//! cut off past [`BUILD_CONTEXT_BYTES`]), and the build's output followed.

use std::{
    collections::{HashMap, VecDeque},
    io::{Read, Write},
    path::{Component, Path, PathBuf},
};

use bollard::models::BuildInfo;
use bytes::Bytes;
use futures_util::StreamExt;

use super::{DockerScope, dockerfile, engine_error, prefixed, request::BuildRequest};
use crate::bindings::{docker_types::OpOutput, types::Error as WitError};

/// The largest build context sent to Docker, archived: past it the archive stops and the
/// build fails with `invalid-input`.
pub const BUILD_CONTEXT_BYTES: usize = 512 << 20;

/// The largest Dockerfile the host reads and checks.
pub const DOCKERFILE_BYTES: u64 = 1 << 20;

/// Bytes of one chunk of a build context sent to Docker.
const CHUNK_BYTES: usize = 256 << 10;

/// Chunks of a build context waiting to be sent: what a build holds in memory.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Lines of build output kept to explain a failed build.
const BUILD_OUTPUT_LINES: usize = 20;

/// Runs a checked build: reads and checks its Dockerfile, streams its context to the daemon
/// as a tar archive written while it is sent, follows the build, and answers the image's id.
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
    let (chunks, archiving) = stream_context(
        context,
        dockerfile_path(&dockerfile),
        text.into_bytes(),
        BUILD_CONTEXT_BYTES,
    );
    let body = bollard::body_try_stream(chunks);
    let mut stream = scope.client.build_image(build.options, None, Some(body));
    let built = follow(&mut stream).await;
    // The daemon's answer is in: the archive's reader goes, so its writer stops if it has not.
    drop(stream);
    let archived = archiving
        .await
        .map_err(|e| WitError::Internal(format!("archiving the build context: {e}")))?;
    if archived
        .as_ref()
        .is_err_and(|e| e.kind() == std::io::ErrorKind::FileTooLarge)
    {
        return Err(WitError::InvalidInput(format!(
            "the build context is larger than {BUILD_CONTEXT_BYTES} bytes, archived"
        )));
    }
    // The daemon's own answer first: an archive cut short because it stopped reading says less.
    built?;
    archived
        .map_err(|e| WitError::Internal(format!("archiving the build context: {}", e.kind())))?;
    let found = scope
        .client
        .inspect_image(&tag)
        .await
        .map_err(engine_error)?;
    Ok(OpOutput::Image(found.id.unwrap_or_default()))
}

/// Follows a build's output to its end; a failure answers `invalid-input` with the output's
/// last lines.
async fn follow(
    stream: &mut (impl futures_util::Stream<Item = Result<BuildInfo, bollard::errors::Error>> + Unpin),
) -> Result<(), WitError> {
    let mut output = VecDeque::with_capacity(BUILD_OUTPUT_LINES);
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
    Ok(())
}

/// A build context as the chunks of a request body: a blocking task archives `context` into a
/// bounded channel while the chunks are sent, so at most [`CHUNKS_IN_FLIGHT`] chunks are held in memory.
/// The archive holds `dockerfile` (the path the build reads) with the `checked` bytes, so what
/// the daemon builds from is what the host checked; symlinks go in as links, never followed.
/// Past `cap` bytes the task stops with [`std::io::ErrorKind::FileTooLarge`] and the chunks
/// end in an error, which fails the request, so the daemon never sees a whole archive. The task's result says how the
/// archiving ended.
fn stream_context(
    context: PathBuf,
    dockerfile: PathBuf,
    checked: Vec<u8>,
    cap: usize,
) -> (
    impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let (sender, receiver) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
    let archiving = tokio::task::spawn_blocking(move || {
        let mut writer = ChunkWriter {
            sender: sender.clone(),
            chunk: Vec::with_capacity(CHUNK_BYTES),
            written: 0,
            cap,
        };
        let archived = archive(&context, &dockerfile, &checked, &mut writer);
        if let Err(e) = &archived {
            // The body fails, and with it the request: the daemon gets no complete archive.
            let _ = sender.blocking_send(Err(std::io::Error::new(e.kind(), "archiving stopped")));
        }
        archived
    });
    let chunks = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    (chunks, archiving)
}

/// Writes `context` as a tar archive into `writer`, with `checked` standing for the file at
/// `dockerfile`.
fn archive(
    context: &Path,
    dockerfile: &Path,
    checked: &[u8],
    writer: &mut ChunkWriter,
) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(writer);
    tar.follow_symlinks(false);
    // Docker's archive reader does not know GNU sparse entries: a sparse file goes whole.
    tar.sparse(false);
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let mut entries = std::fs::read_dir(context.join(&relative))?
            .map(|entry| entry.map(|e| relative.join(e.file_name())))
            .collect::<std::io::Result<Vec<_>>>()?;
        entries.sort();
        for entry in entries {
            let path = context.join(&entry);
            let metadata = std::fs::symlink_metadata(&path)?;
            if entry == dockerfile {
                let mut header = tar::Header::new_gnu();
                header.set_metadata(&metadata);
                header.set_size(checked.len() as u64);
                tar.append_data(&mut header, &entry, checked)?;
            } else {
                tar.append_path_with_name(&path, &entry)?;
                if metadata.is_dir() {
                    stack.push(entry);
                }
            }
        }
    }
    tar.into_inner()?.flush()
}

/// The writing end of [`stream_context`]: cuts the archive into chunks of [`CHUNK_BYTES`] for
/// the channel, refusing to write past `cap` bytes in all.
struct ChunkWriter {
    sender: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    chunk: Vec<u8>,
    written: usize,
    cap: usize,
}

impl ChunkWriter {
    /// Sends the chunk so far; fails when the body is gone (the request ended).
    fn send(&mut self) -> std::io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.chunk,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::ErrorKind::BrokenPipe.into())
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.written + bytes.len() > self.cap {
            return Err(std::io::ErrorKind::FileTooLarge.into());
        }
        self.written += bytes.len();
        self.chunk.extend_from_slice(bytes);
        if self.chunk.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs [`stream_context`] to its end: the bytes sent, whether the chunks ended in an
    /// error, and how the archiving ended.
    async fn stream(
        context: &Path,
        dockerfile: &str,
        checked: &[u8],
        cap: usize,
    ) -> (Vec<u8>, bool, std::io::Result<()>) {
        let (chunks, archiving) = stream_context(
            context.to_owned(),
            dockerfile_path(dockerfile),
            checked.to_vec(),
            cap,
        );
        let items: Vec<_> = chunks.collect().await;
        let failed = items.last().is_some_and(|item| item.is_err());
        let bytes = items
            .into_iter()
            .filter_map(Result::ok)
            .flat_map(|chunk| chunk.to_vec())
            .collect();
        (bytes, failed, archiving.await.unwrap())
    }

    #[tokio::test]
    async fn the_archive_holds_the_checked_dockerfile_and_symlinks_as_links() {
        let context = tempfile::tempdir().unwrap();
        std::fs::write(context.path().join("Dockerfile"), "FROM changed-on-disk\n").unwrap();
        std::fs::create_dir(context.path().join("src")).unwrap();
        std::fs::write(context.path().join("src/main.rs"), "fn main() {}\n").unwrap();
        std::os::unix::fs::symlink("/etc", context.path().join("etc")).unwrap();
        // A file with a hole: Docker cannot read GNU sparse entries.
        std::fs::File::create(context.path().join("sparse"))
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        let (bytes, failed, archived) =
            stream(context.path(), "./Dockerfile", b"FROM busybox\n", 4 << 20).await;
        assert!(!failed);
        archived.unwrap();
        let mut entries = std::collections::BTreeMap::new();
        for entry in tar::Archive::new(&bytes[..]).entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let link = entry
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned());
            let mut content = String::new();
            entry.read_to_string(&mut content).unwrap();
            entries.insert(path, (entry.header().entry_type(), content, link));
        }
        assert_eq!(entries.len(), 5, "{entries:?}");
        assert_eq!(entries["sparse"].0, tar::EntryType::Regular);
        assert_eq!(entries["sparse"].1.len(), 1 << 20);
        assert_eq!(
            entries["Dockerfile"].1, "FROM busybox\n",
            "what was checked"
        );
        assert_eq!(entries["src/main.rs"].1, "fn main() {}\n");
        assert!(entries["src"].0.is_dir());
        let (kind, _, link) = &entries["etc"];
        assert!(kind.is_symlink(), "a link, not /etc's files");
        assert_eq!(link.as_deref(), Some("/etc"));
    }

    #[tokio::test]
    async fn a_context_over_the_cap_ends_the_body_in_an_error() {
        let context = tempfile::tempdir().unwrap();
        std::fs::write(context.path().join("Dockerfile"), "FROM busybox\n").unwrap();
        std::fs::write(context.path().join("big"), vec![7u8; 4 * CHUNK_BYTES]).unwrap();
        let cap = 2 * CHUNK_BYTES;
        let (bytes, failed, archived) =
            stream(context.path(), "Dockerfile", b"FROM busybox\n", cap).await;
        assert!(failed, "the body ends in an error, failing the request");
        assert!(bytes.len() <= cap, "{} bytes sent", bytes.len());
        assert_eq!(
            archived.unwrap_err().kind(),
            std::io::ErrorKind::FileTooLarge
        );
    }

    #[tokio::test]
    async fn the_archiving_stops_when_the_request_is_gone() {
        let context = tempfile::tempdir().unwrap();
        std::fs::write(context.path().join("big"), vec![7u8; 64 * CHUNK_BYTES]).unwrap();
        let (chunks, archiving) = stream_context(
            context.path().to_owned(),
            PathBuf::from("Dockerfile"),
            vec![],
            usize::MAX,
        );
        drop(chunks);
        let error = archiving.await.unwrap().unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn a_dockerfile_is_read_inside_the_context_only() {
        let context = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("Dockerfile"), "FROM busybox\n").unwrap();
        std::os::unix::fs::symlink(outside.path(), context.path().join("linked")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("Dockerfile"),
            context.path().join("Dockerfile"),
        )
        .unwrap();
        std::fs::create_dir(context.path().join("dir")).unwrap();
        for (dockerfile, expected) in [
            ("Dockerfile", "symlink"),
            ("linked/Dockerfile", "symlink"),
            ("missing", "has no Dockerfile"),
            ("dir", "not a file"),
        ] {
            let error = read_dockerfile(context.path(), dockerfile).unwrap_err();
            assert!(
                error.to_string().contains(expected),
                "{dockerfile}: {error}"
            );
            assert!(
                !error
                    .to_string()
                    .contains(&*context.path().to_string_lossy()),
                "no host path: {error}"
            );
        }
        std::fs::write(context.path().join("dir/Dockerfile"), "FROM busybox\n").unwrap();
        assert_eq!(
            read_dockerfile(context.path(), "./dir/Dockerfile").unwrap(),
            "FROM busybox\n"
        );
    }
}
