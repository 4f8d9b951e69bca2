//! Builds Komander's WebAssembly guests with a cargo of their own: the members of the `plugins/`
//! workspace for `wasm32-wasip2` (the first-party build script and the tests), and the web UI's
//! browser half for `wasm32-unknown-unknown` (the web bundle's build script). It is the one
//! builder of every nested build.
//!
//! A guest build runs a cargo of its own. It never shares the outer build's target directory (a
//! nested cargo inside a build script would wait on the outer cargo's lock forever), and never
//! inherits the outer build's compiler settings, which are the host's:
//!
//! - `cargo build --profile release --locked --target wasm32-wasip2` by default, another
//!   [`target`](GuestBuild::target), [`profile`](GuestBuild::profile) and
//!   [`features`](GuestBuild::feature) when asked: the workspace's `Cargo.lock` is used as it is,
//!   and missing crates come from the registry like the outer build's;
//! - in a target directory of its own, normally [`shared_target_dir`], so the first-party build and
//!   the tests compile each guest once;
//! - without the outer build's rustc flags and rustc wrappers (clippy-driver, rust-analyzer's,
//!   a compiler cache), but with its compiler, toolchain and jobserver.
//!
//! It never runs rustup and downloads nothing itself: when the compiler has no standard library
//! for the target, it fails before building with [`Error::TargetMissing`], whose message ends
//! with the command that adds it.
//!
//! Tools that only check code (rust-analyzer, `cargo check`, clippy) skip every nested build by
//! setting [`SKIP_VARIABLE`]; build scripts ask [`skipped`].
//!
//! It depends on nothing but std, so that build scripts can use it.
//!
//! ```no_run
//! use komander_guest_build::{GuestBuild, shared_target_dir};
//! use std::path::Path;
//!
//! let repo = Path::new("/src/komander");
//! let target_dir = shared_target_dir("plugins", &repo.join("target/plugins"));
//! let built = GuestBuild::new(repo.join("plugins"), target_dir)
//!     .package("komander-compose")
//!     .run()?;
//! let compose = std::fs::read(built.join("komander_compose.wasm"));
//! # Ok::<(), komander_guest_build::Error>(())
//! ```
#![deny(missing_docs)]

use std::{
    env,
    ffi::{OsStr, OsString},
    fmt, io,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
};

/// The target plugins are built for, and a build's target unless it names another.
pub const TARGET: &str = "wasm32-wasip2";

/// The target of the web UI's browser half.
pub const BROWSER_TARGET: &str = "wasm32-unknown-unknown";

/// Set to `1` or `true`, build scripts build no guest: for tools that only check code.
pub const SKIP_VARIABLE: &str = "KOMANDER_SKIP_GUEST_BUILD";

/// Whether this build skips its guest builds ([`SKIP_VARIABLE`] is `1` or `true`). A build
/// script that asks also prints `cargo:rerun-if-env-changed` for the variable.
pub fn skipped() -> bool {
    println!("cargo:rerun-if-env-changed={SKIP_VARIABLE}");
    env::var(SKIP_VARIABLE).is_ok_and(|v| v == "1" || v == "true")
}

/// Variables of this process that a guest build's cargo does not inherit: they configure the
/// outer build, for the host.
///
/// - rustc flags: `CARGO_ENCODED_RUSTFLAGS` (set by cargo for build scripts, and read by cargo
///   before `RUSTFLAGS`), `RUSTFLAGS` and its config form `CARGO_BUILD_RUSTFLAGS`;
/// - rustc wrappers, which `cargo clippy` (clippy-driver), rust-analyzer (its check wrapper),
///   `cargo fix` or a compiler cache set for the cargo they run: `RUSTC_WRAPPER`,
///   `RUSTC_WORKSPACE_WRAPPER` and their config forms;
/// - `CARGO_BUILD_TARGET` (a guest build names its target) and `CARGO_PRIMARY_PACKAGE`.
///
/// Inherited on purpose: `RUSTC` and `RUSTUP_TOOLCHAIN` (guests build with the outer build's
/// compiler, the one [`check_target`] asks), `CARGO_HOME`, and `CARGO_MAKEFLAGS`, so that a guest
/// build inside a build script takes its jobs from the outer build's jobserver instead of starting
/// as many again.
pub const REMOVED_VARIABLES: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_TARGET",
    "CARGO_PRIMARY_PACKAGE",
];

/// What a build script that runs a guest build is given by cargo: its package's folder and its
/// output folder.
#[derive(Clone, Debug)]
pub struct ScriptDirs {
    /// `CARGO_MANIFEST_DIR`: the build script's package.
    pub manifest_dir: PathBuf,
    /// `OUT_DIR`: where it writes what it generates.
    pub out_dir: PathBuf,
}

/// Runs a build script's `body` with its [`ScriptDirs`] after asking cargo to run it again
/// when `watched` (paths relative to the package's folder) or `CARGO_TARGET_DIR` change; an
/// error is printed as `error: …` and fails the build.
pub fn run_build_script(
    watched: &[&str],
    body: impl FnOnce(ScriptDirs) -> Result<(), Box<dyn std::error::Error>>,
) -> std::process::ExitCode {
    let dirs = match (env::var_os("CARGO_MANIFEST_DIR"), env::var_os("OUT_DIR")) {
        (Some(manifest_dir), Some(out_dir)) => ScriptDirs {
            manifest_dir: manifest_dir.into(),
            out_dir: out_dir.into(),
        },
        _ => {
            eprintln!(
                "error: run this as a build script: CARGO_MANIFEST_DIR or OUT_DIR is not set"
            );
            return std::process::ExitCode::FAILURE;
        }
    };
    for path in watched {
        println!(
            "cargo:rerun-if-changed={}",
            dirs.manifest_dir.join(path).display()
        );
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    match body(dirs) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The target directory of one kind of guest build, such as `plugins` or `web`: that folder
/// under `CARGO_TARGET_DIR` when the variable is set, so that every such build of a checkout
/// shares it; `fallback` otherwise.
pub fn shared_target_dir(kind: &str, fallback: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join(kind),
        None => fallback.to_owned(),
    }
}

/// A build of members of a cargo workspace for a WebAssembly target: by default a release
/// build for [`TARGET`].
#[derive(Clone, Debug)]
pub struct GuestBuild {
    workspace: PathBuf,
    target_dir: PathBuf,
    packages: Vec<String>,
    target: String,
    profile: String,
    features: Vec<String>,
}

impl GuestBuild {
    /// A release build for [`TARGET`] of every member of the cargo workspace in the folder
    /// `workspace` (such as the repository's `plugins/`), into the target directory
    /// `target_dir`, which must not be the outer build's.
    pub fn new(workspace: impl Into<PathBuf>, target_dir: impl Into<PathBuf>) -> Self {
        Self {
            workspace: workspace.into(),
            target_dir: target_dir.into(),
            packages: Vec::new(),
            target: TARGET.to_owned(),
            profile: "release".to_owned(),
            features: Vec::new(),
        }
    }

    /// Builds for `target` (such as [`BROWSER_TARGET`]) instead of [`TARGET`].
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// Builds with the cargo profile `profile` (defined in the workspace's manifest) instead
    /// of `release`.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = profile.into();
        self
    }

    /// Turns on the feature `feature` (`--features`, once per call) of the packages built.
    pub fn feature(mut self, feature: impl Into<String>) -> Self {
        self.features.push(feature.into());
        self
    }

    /// Builds only the named packages (`-p package`, once per call) instead of every member.
    pub fn package(mut self, package: impl Into<String>) -> Self {
        self.packages.push(package.into());
        self
    }

    /// The folder the components land in, `<target_dir>/<target>/<profile>` (`debug` for the
    /// `dev` profile), such as `<target_dir>/wasm32-wasip2/release`: one `<crate name>.wasm`
    /// each, such as `komander_compose.wasm` for the package `komander-compose`. It may also
    /// hold components of earlier builds.
    pub fn output_dir(&self) -> PathBuf {
        let profile_dir = match self.profile.as_str() {
            "dev" | "test" => "debug",
            "bench" => "release",
            other => other,
        };
        self.target_dir.join(&self.target).join(profile_dir)
    }

    /// Runs the build, with cargo's output on this process's standard error, and returns
    /// [`output_dir`](Self::output_dir).
    ///
    /// It runs `cargo` from `CARGO` when set (as cargo sets it for build scripts and tests), and
    /// first asks the compiler (`RUSTC` when set, as cargo does) for its sysroot to check that
    /// the target is installed.
    ///
    /// # Errors
    /// [`Error::TargetMissing`], before building, when the target is not installed;
    /// [`Error::Rustc`] or [`Error::RustcFailed`] when the compiler cannot say where it is;
    /// [`Error::Cargo`] when cargo cannot be started; [`Error::BuildFailed`] when the build fails
    /// (cargo printed why).
    pub fn run(&self) -> Result<PathBuf, Error> {
        check_target(
            &env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()),
            &self.target,
        )?;
        let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = self
            .command(&cargo)
            .status()
            .map_err(|source| Error::Cargo { cargo, source })?;
        if !status.success() {
            return Err(Error::BuildFailed {
                manifest: self.manifest(),
                packages: self.packages.clone(),
                target: self.target.clone(),
                status,
            });
        }
        Ok(self.output_dir())
    }

    fn manifest(&self) -> PathBuf {
        self.workspace.join("Cargo.toml")
    }

    /// The cargo command of this build, not yet started.
    fn command(&self, cargo: &OsStr) -> Command {
        let mut command = Command::new(cargo);
        command
            .args(["build", "--quiet", "--locked", "--profile"])
            .arg(&self.profile)
            .arg("--target")
            .arg(&self.target)
            .arg("--manifest-path")
            .arg(self.manifest());
        for package in &self.packages {
            command.args(["-p", package]);
        }
        if !self.features.is_empty() {
            command.arg("--features").arg(self.features.join(","));
        }
        for variable in REMOVED_VARIABLES {
            command.env_remove(variable);
        }
        // In a build script, standard output is read by the outer cargo as instructions: nothing
        // the guest build prints may land there.
        command
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .stdout(Stdio::from(io::stderr()));
        command
    }
}

/// Checks that the compiler `rustc` has the standard library for `target`, in the sysroot it
/// prints.
fn check_target(rustc: &OsStr, target: &str) -> Result<(), Error> {
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|source| Error::Rustc {
            rustc: rustc.into(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::RustcFailed {
            rustc: rustc.into(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    target_in(
        Path::new(String::from_utf8_lossy(&output.stdout).trim_end()),
        target,
    )
}

/// Checks that `sysroot` holds the standard library for `target`, `lib/rustlib/<target>`,
/// where `rustup target add` puts it.
fn target_in(sysroot: &Path, target: &str) -> Result<(), Error> {
    if sysroot.join("lib/rustlib").join(target).is_dir() {
        Ok(())
    } else {
        Err(Error::TargetMissing {
            sysroot: sysroot.to_owned(),
            target: target.to_owned(),
        })
    }
}

/// Why a guest build failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The compiler could not be started to print its sysroot.
    Rustc {
        /// The compiler run: `RUSTC`, or `rustc`.
        rustc: OsString,
        /// Why it could not be started.
        source: io::Error,
    },
    /// `rustc --print sysroot` failed.
    RustcFailed {
        /// The compiler run: `RUSTC`, or `rustc`.
        rustc: OsString,
        /// How it exited.
        status: ExitStatus,
        /// What it printed on standard error.
        stderr: String,
    },
    /// The compiler has no standard library for the target; the message says to run
    /// `rustup target add <target>`.
    TargetMissing {
        /// The compiler's sysroot, which lacks `lib/rustlib/<target>`.
        sysroot: PathBuf,
        /// The target, such as [`TARGET`].
        target: String,
    },
    /// Cargo could not be started.
    Cargo {
        /// The cargo run: `CARGO`, or `cargo`.
        cargo: OsString,
        /// Why it could not be started.
        source: io::Error,
    },
    /// The build failed; cargo printed why on standard error.
    BuildFailed {
        /// The workspace manifest built, `plugins/Cargo.toml`.
        manifest: PathBuf,
        /// The packages built; empty for every member.
        packages: Vec<String>,
        /// The target built for.
        target: String,
        /// How cargo exited.
        status: ExitStatus,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rustc { rustc, source } => write!(
                f,
                "running `{} --print sysroot` to find the installed Rust targets: {source}",
                rustc.display()
            ),
            Self::RustcFailed {
                rustc,
                status,
                stderr,
            } => write!(
                f,
                "`{} --print sysroot` failed ({status}): {stderr}",
                rustc.display()
            ),
            Self::TargetMissing { sysroot, target } => write!(
                f,
                "the Rust target {target} is not installed (no lib/rustlib/{target} in {}): \
                 run `rustup target add {target}`",
                sysroot.display()
            ),
            Self::Cargo { cargo, source } => write!(
                f,
                "running `{}` to build WebAssembly guests: {source}",
                cargo.display()
            ),
            Self::BuildFailed {
                manifest,
                packages,
                target,
                status,
            } => {
                let built = if packages.is_empty() {
                    "every member".to_owned()
                } else {
                    packages.join(", ")
                };
                write!(
                    f,
                    "building {built} of {} for {target} failed ({status}): \
                     cargo's errors are above",
                    manifest.display()
                )
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Rustc { source, .. } | Self::Cargo { source, .. } => Some(source),
            Self::RustcFailed { .. } | Self::TargetMissing { .. } | Self::BuildFailed { .. } => {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sysroot_without_the_target_names_the_rustup_command() {
        let sysroot = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(sysroot.path().join("lib/rustlib/x86_64-unknown-linux-gnu"))
            .unwrap();

        let error = target_in(sysroot.path(), TARGET).unwrap_err();

        assert!(
            matches!(&error, Error::TargetMissing { sysroot: s, .. } if s == sysroot.path()),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("`rustup target add wasm32-wasip2`"),
            "{message}"
        );
        assert!(
            message.contains(&sysroot.path().display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn a_sysroot_with_the_target_passes() {
        let sysroot = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(sysroot.path().join("lib/rustlib/wasm32-wasip2")).unwrap();

        target_in(sysroot.path(), TARGET).unwrap();
    }

    #[test]
    fn a_compiler_that_cannot_start_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let rustc = dir.path().join("no-such-rustc");

        let error = check_target(rustc.as_os_str(), TARGET).unwrap_err();

        assert!(matches!(error, Error::Rustc { .. }), "{error:?}");
        assert!(error.to_string().contains("no-such-rustc"), "{error}");
    }

    #[test]
    fn the_command_is_locked_release_for_the_target_without_the_outer_settings() {
        let build = GuestBuild::new("/repo/plugins", "/target/plugins")
            .package("komander-compose")
            .package("komander-test-guest");

        let command = build.command(OsStr::new("cargo"));

        let args: Vec<_> = command.get_args().collect();
        for expected in [
            "build",
            "--profile",
            "release",
            "--locked",
            "--target",
            TARGET,
            "--manifest-path",
            "/repo/plugins/Cargo.toml",
        ] {
            assert!(
                args.contains(&OsStr::new(expected)),
                "{expected} in {args:?}"
            );
        }
        let packages: Vec<_> = args
            .windows(2)
            .filter(|pair| pair[0] == "-p")
            .map(|pair| pair[1])
            .collect();
        assert_eq!(packages, ["komander-compose", "komander-test-guest"]);
        let envs: Vec<_> = command.get_envs().collect();
        for variable in REMOVED_VARIABLES {
            assert!(
                envs.contains(&(OsStr::new(variable), None)),
                "{variable} removed in {envs:?}"
            );
        }
        assert!(envs.contains(&(
            OsStr::new("CARGO_TARGET_DIR"),
            Some(OsStr::new("/target/plugins"))
        )));
        assert_eq!(
            build.output_dir(),
            Path::new("/target/plugins/wasm32-wasip2/release")
        );
    }

    #[test]
    fn a_browser_build_names_its_target_profile_and_features() {
        let build = GuestBuild::new("/repo", "/target/web")
            .package("komander-web")
            .target(BROWSER_TARGET)
            .profile("hydrate")
            .feature("hydrate");

        let command = build.command(OsStr::new("cargo"));

        let args: Vec<_> = command.get_args().collect();
        for pair in [
            ["--target", BROWSER_TARGET],
            ["--profile", "hydrate"],
            ["--features", "hydrate"],
            ["-p", "komander-web"],
        ] {
            assert!(args.windows(2).any(|w| w == pair), "{pair:?} in {args:?}");
        }
        assert!(!args.contains(&OsStr::new("--release")), "{args:?}");
        assert_eq!(
            build.output_dir(),
            Path::new("/target/web/wasm32-unknown-unknown/hydrate")
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_failed_build_names_its_packages_and_manifest() {
        use std::os::unix::process::ExitStatusExt;
        let status = ExitStatus::from_raw(1 << 8);
        let error = Error::BuildFailed {
            manifest: "/repo/plugins/Cargo.toml".into(),
            packages: vec!["komander-compose".into()],
            target: TARGET.into(),
            status,
        };

        let message = error.to_string();

        assert!(
            message.contains("komander-compose of /repo/plugins/Cargo.toml"),
            "{message}"
        );
    }
}
