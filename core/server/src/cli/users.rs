//! `komander me|user|token`: who you are, the instance's users, and API tokens.

use anyhow::Context as _;
use clap::Subcommand;
use komander_domain::{
    TokenId,
    api::{CreatedToken, NewServiceUser, NewToken, TokenInfo, User, UserKind},
    names::UserHandle,
};

use super::{
    ApiClient, OutputFormat,
    output::{Row, print_item, print_list, timestamp, yes_no},
    scope::{API, Scope as _, UserScope},
};

/// `komander user`.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Lists the instance's users (instance admins).
    List,
    /// Creates a service user for automation (instance admins); `komander token create` gives
    /// it a token.
    CreateService {
        /// The new user's handle.
        handle: UserHandle,
        /// A display name [default: the handle].
        #[arg(long)]
        display_name: Option<String>,
        /// Makes the service user an instance admin.
        #[arg(long)]
        instance_admin: bool,
    },
}

/// `komander token`.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Lists a user's API tokens (never the tokens themselves).
    List {
        /// The user.
        #[command(flatten)]
        user: UserScope,
    },
    /// Creates an API token for a user; it is shown this once.
    Create {
        /// The user.
        #[command(flatten)]
        user: UserScope,
        /// What the token is for (1 to 64 characters).
        #[arg(long)]
        name: String,
    },
    /// Revokes an API token.
    Revoke {
        /// The user.
        #[command(flatten)]
        user: UserScope,
        /// The token's id, as `komander token list` shows it.
        id: TokenId,
    },
}

/// The user the client's token belongs to: `GET /api/v1/me`.
///
/// # Errors
/// When the server cannot be reached or refuses the token.
pub async fn whoami(api: &ApiClient) -> anyhow::Result<User> {
    api.get(&format!("{API}/me"))
        .await
        .context("asking the server who the token belongs to")
}

/// `komander me`: prints the user the token belongs to.
///
/// # Errors
/// As [`whoami`], or when the output cannot be written.
pub async fn me(api: &ApiClient, out: OutputFormat) -> anyhow::Result<()> {
    print_item(out, &whoami(api).await?)
}

impl UserCommand {
    /// Runs the command and prints the server's answer.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses (an `ApiError` in the chain).
    pub async fn run(self, api: &ApiClient, out: OutputFormat) -> anyhow::Result<()> {
        let users = format!("{API}/users");
        match self {
            Self::List => print_list::<User>(api, out, &users, || "listing users".into()).await,
            Self::CreateService {
                handle,
                display_name,
                instance_admin,
            } => {
                let body = NewServiceUser {
                    handle: handle.clone(),
                    display_name,
                    instance_admin,
                };
                let user: User = api
                    .post(&users, &body)
                    .await
                    .with_context(|| format!("creating service user {handle}"))?;
                print_item(out, &user)
            }
        }
    }
}

impl TokenCommand {
    /// Runs the command and prints the server's answer.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses (an `ApiError` in the chain).
    pub async fn run(self, api: &ApiClient, out: OutputFormat) -> anyhow::Result<()> {
        match self {
            Self::List { user } => {
                print_list::<TokenInfo>(api, out, &user.collection("tokens"), || {
                    format!("listing the API tokens of {user}")
                })
                .await
            }
            Self::Create { user, name } => {
                let body = NewToken { name: name.clone() };
                let token: CreatedToken = api
                    .post(&user.collection("tokens"), &body)
                    .await
                    .with_context(|| format!("creating API token {name:?} for {user}"))?;
                eprintln!("The token is shown this once: store it now.");
                print_item(out, &token)
            }
            Self::Revoke { user, id } => {
                api.delete(&user.item("tokens", id), false)
                    .await
                    .with_context(|| format!("revoking API token {id} of {user}"))?;
                eprintln!("revoked API token {id} of {user}");
                Ok(())
            }
        }
    }
}

impl Row for User {
    const COLUMNS: &'static [&'static str] = &[
        "HANDLE",
        "DISPLAY NAME",
        "KIND",
        "INSTANCE ADMIN",
        "CREATED",
    ];

    fn cells(&self) -> Vec<String> {
        let kind = match self.kind {
            UserKind::Human => "human",
            UserKind::Service => "service",
        };
        vec![
            self.handle.to_string(),
            self.display_name.clone(),
            kind.to_owned(),
            yes_no(self.instance_admin),
            timestamp(self.created_at),
        ]
    }
}

impl Row for TokenInfo {
    const COLUMNS: &'static [&'static str] = &["ID", "NAME", "CREATED"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            timestamp(self.created_at),
        ]
    }
}

impl Row for CreatedToken {
    const COLUMNS: &'static [&'static str] = &["ID", "TOKEN"];

    fn cells(&self) -> Vec<String> {
        vec![self.id.to_string(), self.token.clone()]
    }
}
