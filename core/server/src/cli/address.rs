//! Which deployment a run command (`komander up`, `down`, `status`…) acts on, parsed once,
//! here: `PROJECT/ENV/DEPLOYMENT`, or `-p/-e/-d`, or neither inside a folder linked by
//! `komander link`, whose `.komander.toml` is looked for in the folder and its parents, as git
//! looks for `.git`:
//!
//! ```toml
//! server = "https://komander.example.com"
//! deployment = "shop/dev/mine"
//! ```
//!
//! The link holds no token: the token comes from `KOMANDER_TOKEN` or the config file.

use std::{
    fmt, fs,
    path::{Path, PathBuf},
    str::FromStr,
};

use anyhow::{Context as _, bail};
use clap::Args;
use komander_domain::names::{DeploymentName, EnvironmentName, ProjectName};
use serde::Deserialize;

use super::scope::{Scope, project_path};

/// The name of the file `komander link` writes.
pub const LINK_FILE: &str = ".komander.toml";

/// A deployment by its three slugs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentAt {
    /// The project's slug.
    pub project: ProjectName,
    /// The environment's slug.
    pub environment: EnvironmentName,
    /// The deployment's slug.
    pub deployment: DeploymentName,
}

impl DeploymentAt {
    /// The environment's API path.
    pub fn environment_path(&self) -> String {
        format!(
            "{}/environments/{}",
            project_path(&self.project),
            self.environment
        )
    }
}

impl Scope for DeploymentAt {
    fn path(&self) -> String {
        format!(
            "{}/deployments/{}",
            self.environment_path(),
            self.deployment
        )
    }
}

impl fmt::Display for DeploymentAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.project, self.environment, self.deployment
        )
    }
}

impl FromStr for DeploymentAt {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let [project, environment, deployment] = parts[..] else {
            return Err(format!(
                "{text:?} is not PROJECT/ENVIRONMENT/DEPLOYMENT (three slugs joined by `/`)"
            ));
        };
        Ok(DeploymentAt {
            project: project
                .parse()
                .map_err(|e| format!("project {project:?}: {e}"))?,
            environment: environment
                .parse()
                .map_err(|e| format!("environment {environment:?}: {e}"))?,
            deployment: deployment
                .parse()
                .map_err(|e| format!("deployment {deployment:?}: {e}"))?,
        })
    }
}

/// A deployment named by `-p/-e/-d` (all three, or none).
#[derive(Args, Clone, Debug, Default)]
pub struct DeploymentFlags {
    /// The project's slug (with -e and -d, instead of PROJECT/ENV/DEPLOYMENT).
    #[arg(long, short = 'p', requires_all = ["environment", "deployment"])]
    pub project: Option<ProjectName>,
    /// The environment's slug.
    #[arg(long, short = 'e', requires_all = ["project", "deployment"])]
    pub environment: Option<EnvironmentName>,
    /// The deployment's slug.
    #[arg(long, short = 'd', requires_all = ["project", "environment"])]
    pub deployment: Option<DeploymentName>,
}

impl DeploymentFlags {
    /// The deployment `at` names, else the flags', else `link`'s.
    ///
    /// # Errors
    /// When none names one: no flags, no `at`, no link in the folder or its parents.
    pub fn resolve(
        self,
        at: Option<DeploymentAt>,
        link: Option<&Link>,
    ) -> anyhow::Result<DeploymentAt> {
        if let Some(at) = at {
            return Ok(at);
        }
        if let (Some(project), Some(environment), Some(deployment)) =
            (self.project, self.environment, self.deployment)
        {
            return Ok(DeploymentAt {
                project,
                environment,
                deployment,
            });
        }
        match link {
            Some(link) => Ok(link.deployment.clone()),
            None => bail!(
                "which deployment? Name it as PROJECT/ENV/DEPLOYMENT or with -p/-e/-d, or run \
                 `komander link PROJECT/ENV/DEPLOYMENT` in this folder first"
            ),
        }
    }
}

/// A deployment named on the command line: `PROJECT/ENV/DEPLOYMENT` or `-p/-e/-d`; neither
/// means the folder's link.
#[derive(Args, Clone, Debug, Default)]
pub struct DeploymentAddress {
    /// The deployment, as PROJECT/ENVIRONMENT/DEPLOYMENT [default: the folder's link].
    #[arg(value_name = "PROJECT/ENV/DEPLOYMENT", conflicts_with_all = ["project", "environment", "deployment"])]
    pub at: Option<DeploymentAt>,
    /// Or by flags.
    #[command(flatten)]
    pub flags: DeploymentFlags,
}

impl DeploymentAddress {
    /// The deployment named, else the one `link` names.
    ///
    /// # Errors
    /// As [`DeploymentFlags::resolve`].
    pub fn resolve(self, link: Option<&Link>) -> anyhow::Result<DeploymentAt> {
        self.flags.resolve(self.at, link)
    }
}

/// A folder's link to a deployment, from its `.komander.toml`.
#[derive(Clone, Debug)]
pub struct Link {
    /// The file it was read from.
    pub file: PathBuf,
    /// The server's URL.
    pub server: String,
    /// The deployment.
    pub deployment: DeploymentAt,
}

/// What `.komander.toml` holds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkFile {
    server: String,
    deployment: String,
}

/// The link of `dir` or of its nearest parent that has one; `None` when none has.
///
/// # Errors
/// When the nearest `.komander.toml` cannot be read or does not hold a server and a
/// deployment.
pub fn find_link(dir: &Path) -> anyhow::Result<Option<Link>> {
    for folder in dir.ancestors() {
        let file = folder.join(LINK_FILE);
        let text = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
        };
        let parsed: LinkFile =
            toml_from_str(&text).with_context(|| format!("reading {}", file.display()))?;
        let deployment = parsed
            .deployment
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))
            .with_context(|| format!("reading `deployment` in {}", file.display()))?;
        return Ok(Some(Link {
            file,
            server: parsed.server,
            deployment,
        }));
    }
    Ok(None)
}

/// Parses the link file's TOML.
fn toml_from_str(text: &str) -> anyhow::Result<LinkFile> {
    use figment::{
        Figment,
        providers::{Format as _, Toml},
    };
    Ok(Figment::from(Toml::string(text)).extract()?)
}

/// Writes `dir/.komander.toml` linking it to `deployment` on `server`; answers its path.
///
/// # Errors
/// When a value holds a control character or the file cannot be written.
pub fn write_link(dir: &Path, server: &str, deployment: &DeploymentAt) -> anyhow::Result<PathBuf> {
    let file = dir.join(LINK_FILE);
    let text = format!(
        "# Written by `komander link`: the deployment this folder's `komander up` runs.\n\
         server = {}\ndeployment = {}\n",
        super::config::quoted(server)?,
        super::config::quoted(&deployment.to_string())?
    );
    fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        address: DeploymentAddress,
    }

    fn at(text: &str) -> DeploymentAt {
        text.parse().unwrap()
    }

    #[test]
    fn a_deployment_is_named_by_slugs_flags_or_the_folders_link() {
        let by_slugs = Probe::try_parse_from(["probe", "shop/dev/mine"]).unwrap();
        assert_eq!(by_slugs.address.resolve(None).unwrap(), at("shop/dev/mine"));
        let by_flags =
            Probe::try_parse_from(["probe", "-p", "shop", "-e", "dev", "-d", "mine"]).unwrap();
        assert_eq!(by_flags.address.resolve(None).unwrap(), at("shop/dev/mine"));
        assert_eq!(
            at("shop/dev/mine").path(),
            "/api/v1/projects/shop/environments/dev/deployments/mine"
        );
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("src/deep");
        fs::create_dir_all(&nested).unwrap();
        assert!(find_link(&nested).unwrap().is_none());
        write_link(dir.path(), "http://127.0.0.1:9", &at("shop/dev/mine")).unwrap();
        let link = find_link(&nested).unwrap().unwrap();
        assert_eq!(link.server, "http://127.0.0.1:9");
        let neither = Probe::try_parse_from(["probe"]).unwrap();
        assert_eq!(
            neither.address.resolve(Some(&link)).unwrap(),
            at("shop/dev/mine")
        );
    }

    #[test]
    fn a_bad_address_is_refused_naming_the_part() {
        let err = "shop/dev".parse::<DeploymentAt>().unwrap_err();
        assert!(err.contains("PROJECT/ENVIRONMENT/DEPLOYMENT"), "{err}");
        let err = "shop/Dev!/mine".parse::<DeploymentAt>().unwrap_err();
        assert!(err.starts_with("environment \"Dev!\""), "{err}");
        assert!(Probe::try_parse_from(["probe", "shop/dev/mine", "-p", "shop"]).is_err());
        assert!(Probe::try_parse_from(["probe", "-p", "shop"]).is_err());
        let err = Probe::try_parse_from(["probe"])
            .unwrap()
            .address
            .resolve(None)
            .unwrap_err();
        assert!(err.to_string().contains("komander link"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LINK_FILE), "server = 1\n").unwrap();
        assert!(find_link(dir.path()).is_err());
        fs::write(
            dir.path().join(LINK_FILE),
            "server = \"x\"\ndeployment = \"a/b/c\"\ntoken = \"t\"\n",
        )
        .unwrap();
        let err = find_link(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("token"), "{err:#}");
    }
}
