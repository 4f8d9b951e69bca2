//! `komander project|member|invitation`: projects, their members, and invitation links.

use anyhow::Context as _;
use clap::Subcommand;
use komander_domain::{
    Role,
    api::{
        CreatedInvitation, Invitation, Member, MemberPatch, NewInvitation, NewMember, NewProject,
        Project, ProjectPatch,
    },
    names::{ProjectName, UserHandle},
};

use super::{
    ApiClient, OutputFormat,
    output::{Row, print_item, print_list, timestamp},
    scope::{API, ProjectScope, Scope as _, project_path},
};

/// The roles, in the order `--help` lists them.
const ROLES: &[Role] = &[Role::Admin, Role::DevOps, Role::Dev];

/// `komander project`.
#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// Lists the projects you are a member of, with your role.
    List,
    /// Creates a project; you become its Admin.
    Create {
        /// The project's slug (lower-case letters, digits and '-'), the key in URLs; immutable.
        name: ProjectName,
        /// A display name [default: the slug].
        #[arg(long)]
        display_name: Option<String>,
        /// A description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Shows a project.
    Show {
        /// The project's slug.
        name: ProjectName,
    },
    /// Changes a project's display name or description (Admins).
    Edit {
        /// The project's slug.
        name: ProjectName,
        /// The new display name.
        #[arg(long)]
        display_name: Option<String>,
        /// The new description (empty clears it).
        #[arg(long)]
        description: Option<String>,
    },
    /// Deletes a project and everything in it (Admins).
    Delete {
        /// The project's slug.
        name: ProjectName,
    },
}

/// `komander member`.
#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// Lists a project's members and their roles.
    List {
        /// The project.
        #[command(flatten)]
        scope: ProjectScope,
    },
    /// Adds a user to a project (Admins).
    Add {
        /// The project.
        #[command(flatten)]
        scope: ProjectScope,
        /// The user's handle.
        user: UserHandle,
        /// The role to grant.
        #[arg(long, value_parser = super::one_of(ROLES, Role::as_str))]
        role: Role,
    },
    /// Changes a member's role (Admins); the last Admin cannot be demoted.
    SetRole {
        /// The project.
        #[command(flatten)]
        scope: ProjectScope,
        /// The member's handle.
        user: UserHandle,
        /// The new role.
        #[arg(long, value_parser = super::one_of(ROLES, Role::as_str))]
        role: Role,
    },
    /// Removes a member (Admins).
    Remove {
        /// The project.
        #[command(flatten)]
        scope: ProjectScope,
        /// The member's handle.
        user: UserHandle,
        /// Also delete the member's private deployments; without it, having any is a conflict.
        #[arg(long)]
        force: bool,
    },
}

/// `komander invitation`.
#[derive(Subcommand, Debug)]
pub enum InvitationCommand {
    /// Lists a project's invitation links (never their tokens).
    List {
        /// The project.
        #[command(flatten)]
        scope: ProjectScope,
    },
    /// Creates an invitation link (Admins); its token is shown this once.
    Create {
        /// The project.
        #[command(flatten)]
        scope: ProjectScope,
        /// The role whoever accepts gets.
        #[arg(long, value_parser = super::one_of(ROLES, Role::as_str))]
        role: Role,
        /// Hours until it expires (1 to 720) [default: 168, a week].
        #[arg(long)]
        expires_in_hours: Option<u32>,
    },
    /// Joins a project with an invitation's token.
    Accept {
        /// The invitation's token.
        token: String,
    },
}

impl ProjectCommand {
    /// Runs the command and prints the server's answer.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses (an `ApiError` in the chain).
    pub async fn run(self, api: &ApiClient, out: OutputFormat) -> anyhow::Result<()> {
        let projects = format!("{API}/projects");
        match self {
            Self::List => {
                print_list::<Project>(api, out, &projects, || "listing projects".into()).await
            }
            Self::Create {
                name,
                display_name,
                description,
            } => {
                let body = NewProject {
                    name: name.clone(),
                    display_name,
                    description,
                };
                let project: Project = api
                    .post(&projects, &body)
                    .await
                    .with_context(|| format!("creating project {name}"))?;
                print_item(out, &project)
            }
            Self::Show { name } => {
                let project: Project = api
                    .get(&project_path(&name))
                    .await
                    .with_context(|| format!("showing project {name}"))?;
                print_item(out, &project)
            }
            Self::Edit {
                name,
                display_name,
                description,
            } => {
                let patch = ProjectPatch {
                    display_name,
                    description,
                };
                let project: Project = api
                    .patch(&project_path(&name), &patch)
                    .await
                    .with_context(|| format!("editing project {name}"))?;
                print_item(out, &project)
            }
            Self::Delete { name } => {
                api.delete(&project_path(&name), false)
                    .await
                    .with_context(|| format!("deleting project {name}"))?;
                eprintln!("deleted project {name}");
                Ok(())
            }
        }
    }
}

impl MemberCommand {
    /// Runs the command and prints the server's answer.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses (an `ApiError` in the chain).
    pub async fn run(self, api: &ApiClient, out: OutputFormat) -> anyhow::Result<()> {
        match self {
            Self::List { scope } => {
                print_list::<Member>(api, out, &scope.collection("members"), || {
                    format!("listing the members of {scope}")
                })
                .await
            }
            Self::Add { scope, user, role } => {
                let body = NewMember {
                    user: user.clone(),
                    role,
                };
                let member: Member = api
                    .post(&scope.collection("members"), &body)
                    .await
                    .with_context(|| format!("adding {user} to {scope}"))?;
                print_item(out, &member)
            }
            Self::SetRole { scope, user, role } => {
                let member: Member = api
                    .patch(&scope.item("members", &user), &MemberPatch { role })
                    .await
                    .with_context(|| format!("making {user} {} of {scope}", role.as_str()))?;
                print_item(out, &member)
            }
            Self::Remove { scope, user, force } => {
                api.delete(&scope.item("members", &user), force)
                    .await
                    .with_context(|| format!("removing {user} from {scope}"))?;
                eprintln!("removed {user} from {scope}");
                Ok(())
            }
        }
    }
}

impl InvitationCommand {
    /// Runs the command and prints the server's answer.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses (an `ApiError` in the chain).
    pub async fn run(self, api: &ApiClient, out: OutputFormat) -> anyhow::Result<()> {
        match self {
            Self::List { scope } => {
                print_list::<Invitation>(api, out, &scope.collection("invitations"), || {
                    format!("listing the invitations to {scope}")
                })
                .await
            }
            Self::Create {
                scope,
                role,
                expires_in_hours,
            } => {
                let body = NewInvitation {
                    role,
                    expires_in_hours,
                };
                let invitation: CreatedInvitation = api
                    .post(&scope.collection("invitations"), &body)
                    .await
                    .with_context(|| format!("inviting to {scope}"))?;
                eprintln!("The token is shown this once: send it to whoever you invite.");
                print_item(out, &invitation)
            }
            Self::Accept { token } => {
                let project: Project = api
                    .post_action(&format!("{API}/invitations/{token}/accept"))
                    .await
                    .context("accepting the invitation")?;
                eprintln!(
                    "joined project {} as {}",
                    project.name,
                    project.role.as_str()
                );
                print_item(out, &project)
            }
        }
    }
}

impl Row for Project {
    const COLUMNS: &'static [&'static str] =
        &["NAME", "DISPLAY NAME", "ROLE", "CREATED", "DESCRIPTION"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.name.to_string(),
            self.display_name.clone(),
            self.role.as_str().to_owned(),
            timestamp(self.created_at),
            self.description.clone(),
        ]
    }
}

impl Row for Member {
    const COLUMNS: &'static [&'static str] = &["USER", "DISPLAY NAME", "ROLE", "JOINED"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.user.to_string(),
            self.display_name.clone(),
            self.role.as_str().to_owned(),
            timestamp(self.created_at),
        ]
    }
}

impl Row for Invitation {
    const COLUMNS: &'static [&'static str] = &[
        "ID",
        "ROLE",
        "CREATED BY",
        "CREATED",
        "EXPIRES",
        "ACCEPTED BY",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.role.as_str().to_owned(),
            self.created_by.to_string(),
            timestamp(self.created_at),
            timestamp(self.expires_at),
            self.accepted_by
                .as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string),
        ]
    }
}

impl Row for CreatedInvitation {
    const COLUMNS: &'static [&'static str] = &["ID", "ROLE", "EXPIRES", "TOKEN"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.role.as_str().to_owned(),
            timestamp(self.expires_at),
            self.token.clone(),
        ]
    }
}
