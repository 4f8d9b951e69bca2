//! Users and API tokens: authentication by token, service users for automation, the local
//! admin of single-user mode and the bootstrap token.

use std::path::{Path, PathBuf};

use komander_domain::{
    Action, Facts, TokenId, UserId,
    api::{CreatedToken, NewServiceUser, NewToken, Page, PageQuery, TokenInfo, User, UserKind},
    authorize,
    names::{UserHandle, check_text},
    timestamps,
};
use komander_secrets::{ApiToken, SecretString, token_hash, write_private_file};
use komander_store::{TokenRecord, UserRecord};
use tracing::{info, instrument};

use crate::{App, AppError, Caller, Paging, Result};

/// The prefix of every API token, so leaked tokens are easy to recognise.
pub const TOKEN_PREFIX: &str = "kmd_";

/// The handle of the local admin created in single-user mode.
pub const LOCAL_ADMIN: &str = "local-admin";

/// The handle of the user that holds the bootstrap token.
pub const BOOTSTRAP_USER: &str = "bootstrap";

/// The handles Komander gives its own users: nobody else may take them, so that no user
/// created through the API is mistaken at start for the local admin or the bootstrap user.
pub const RESERVED_HANDLES: [&str; 2] = [LOCAL_ADMIN, BOOTSTRAP_USER];

/// The file in the data directory holding the local admin's token.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// A user as the API shows it.
pub fn user_view(u: UserRecord) -> User {
    User {
        id: u.id,
        handle: u.handle,
        display_name: u.display_name,
        kind: u.kind,
        instance_admin: u.instance_admin,
        created_at: timestamps::from_millis(u.created_at),
    }
}

fn new_token_record(user: UserId, name: String) -> (ApiToken, TokenRecord) {
    let token = ApiToken::generate(TOKEN_PREFIX);
    let record = TokenRecord {
        id: TokenId::new(),
        user_id: user,
        name,
        token_hash: token.hash,
        created_at: timestamps::to_millis(timestamps::now()),
    };
    (token, record)
}

impl App {
    /// The user holding `token`.
    ///
    /// # Errors
    /// [`AppError::Unauthenticated`] for an unknown token.
    pub async fn authenticate(&self, token: &str) -> Result<Caller> {
        let user = self
            .store
            .user_by_token(&token_hash(token))
            .await?
            .ok_or(AppError::Unauthenticated)?;
        Ok(Caller { user })
    }

    /// Single-user mode: at first start (no user at all), creates the instance-admin `local-admin`
    /// and writes its API token to `admin-token` in `data_dir` (mode 0600). Answers the path of
    /// that file when it exists.
    ///
    /// # Errors
    /// When the user or the file cannot be written; nothing is half-created (the user is
    /// created only after the file is written, and the file removed if that fails).
    pub async fn ensure_local_admin(&self, data_dir: &Path) -> Result<Option<PathBuf>> {
        let path = data_dir.join(ADMIN_TOKEN_FILE);
        if self.store.count_users().await? == 0 {
            let user = UserRecord {
                id: UserId::new(),
                handle: LOCAL_ADMIN.parse().expect("a valid handle"),
                display_name: "Local admin".into(),
                kind: UserKind::Human,
                instance_admin: true,
                created_at: timestamps::to_millis(timestamps::now()),
            };
            let (token, record) = new_token_record(user.id, "local admin".into());
            let _ = std::fs::remove_file(&path);
            write_private_file(&path, format!("{}\n", token.token.expose()).as_bytes())
                .map_err(|e| AppError::internal(format!("writing {}", path.display()), e))?;
            if let Err(e) = self.store.create_user(&user, Some(&record), None).await {
                let _ = std::fs::remove_file(&path);
                return Err(e.into());
            }
            info!(path = %path.display(), "created the local admin");
        }
        Ok(path.exists().then_some(path))
    }

    /// The instance admin Komander acts as for what it does on its own (installing the
    /// first-party plugins at start): the local admin, else the bootstrap user.
    ///
    /// # Errors
    /// When neither exists, or the store fails.
    pub async fn system_caller(&self) -> Result<Caller> {
        for handle in [LOCAL_ADMIN, BOOTSTRAP_USER] {
            let handle = handle.parse().expect("a valid handle");
            if let Some(user) = self.store.user_by_handle(&handle).await?
                && user.instance_admin
            {
                return Ok(Caller { user });
            }
        }
        Err(AppError::fault(
            "neither the local admin nor the bootstrap user exists",
        ))
    }

    /// Makes sure the instance-admin service user `bootstrap` holds `token`, creating that
    /// user when no user has the handle. Never promotes: a `bootstrap` user that is not an
    /// instance-admin service user (made before the handle was reserved) is refused.
    ///
    /// # Errors
    /// Invalid input for a short token; conflict for a `bootstrap` user Komander would have to
    /// promote; when the store fails.
    pub async fn ensure_bootstrap_token(&self, token: &SecretString) -> Result<()> {
        if token.expose().len() < 16 {
            return Err(AppError::invalid(
                "bootstrap_token",
                "the bootstrap token must be at least 16 characters",
            ));
        }
        let user = UserRecord {
            id: UserId::new(),
            handle: BOOTSTRAP_USER.parse().expect("a valid handle"),
            display_name: "Bootstrap automation".into(),
            kind: UserKind::Service,
            instance_admin: true,
            created_at: timestamps::to_millis(timestamps::now()),
        };
        let record = TokenRecord {
            id: TokenId::new(),
            user_id: user.id,
            name: "bootstrap".into(),
            token_hash: token_hash(token.expose()),
            created_at: user.created_at,
        };
        self.store
            .ensure_user_token(&user, &record)
            .await
            .map_err(|e| AppError::from_store(e, "user"))?;
        Ok(())
    }

    /// `GET /api/v1/users`: every user, by handle. Any signed-in user may list them, to add
    /// members by handle.
    ///
    /// # Errors
    /// Invalid paging.
    pub async fn list_users(&self, _caller: &Caller, query: &PageQuery) -> Result<Page<User>> {
        let (paging, page) = Paging::new(query)?;
        let rows = self.store.list_users(&page).await?;
        paging.page(rows, |u| u.handle.to_string(), |u| Ok(user_view(u)))
    }

    /// Whether `caller` may create service users and mint their tokens (instance admins): the
    /// admin pages check it before they show even what every user may read.
    ///
    /// # Errors
    /// Forbidden for everyone else.
    pub fn may_manage_users(caller: &Caller) -> Result<()> {
        authorize(&caller.actor(), Action::ManageUsers, &Facts::default())
            .map_err(|d| AppError::denied(d, String::new))
    }

    /// `POST /api/v1/users`: creates a service user (instance admins).
    ///
    /// # Errors
    /// Forbidden for others; invalid, [reserved](RESERVED_HANDLES) or taken handles.
    #[instrument(skip_all, fields(actor = %caller.user.handle))]
    pub async fn create_service_user(&self, caller: &Caller, new: NewServiceUser) -> Result<User> {
        Self::may_manage_users(caller)?;
        if RESERVED_HANDLES.contains(&new.handle.as_str()) {
            return Err(AppError::invalid(
                "handle",
                format!(
                    "the handle {:?} is reserved for Komander's own users",
                    new.handle.as_str()
                ),
            ));
        }
        let display_name = match new.display_name {
            Some(d) => check_text("display name", &d, 100)
                .map_err(|e| AppError::name("display_name", e))?,
            None => new.handle.to_string(),
        };
        let user = UserRecord {
            id: UserId::new(),
            handle: new.handle,
            display_name,
            kind: UserKind::Service,
            instance_admin: new.instance_admin,
            created_at: timestamps::to_millis(timestamps::now()),
        };
        let audit = self.audit(
            caller,
            None,
            "user.create",
            format!("user/{}", user.handle),
            &["handle", "display_name", "instance_admin"],
        );
        self.store
            .create_user(&user, None, Some(&audit))
            .await
            .map_err(|e| match AppError::from_store(e, "user") {
                AppError::Conflict { .. } => AppError::Conflict {
                    field: Some("handle".into()),
                    message: format!("the handle {:?} is taken", user.handle.as_str()),
                },
                other => other,
            })?;
        info!(user = %user.handle, "service user created");
        Ok(user_view(user))
    }

    /// The user `handle` whose tokens the caller may manage: themselves, or anyone for
    /// instance admins.
    async fn token_owner(&self, caller: &Caller, handle: &str) -> Result<UserRecord> {
        let not_found = || AppError::NotFound(format!("user {handle:?}"));
        let parsed: UserHandle = handle.parse().map_err(|_| not_found())?;
        if parsed == caller.user.handle {
            return Ok(caller.user.clone());
        }
        Self::may_manage_users(caller)?;
        self.store
            .user_by_handle(&parsed)
            .await?
            .ok_or_else(not_found)
    }

    /// `POST /api/v1/users/{user}/tokens`: creates an API token, shown once. Instance admins
    /// mint tokens for service users only: a token for a human would let them act as that
    /// person.
    ///
    /// # Errors
    /// Forbidden unless for oneself or, by an instance admin, for a service user; invalid
    /// names.
    #[instrument(skip_all, fields(actor = %caller.user.handle, user = handle))]
    pub async fn create_token(
        &self,
        caller: &Caller,
        handle: &str,
        new: NewToken,
    ) -> Result<CreatedToken> {
        let owner = self.token_owner(caller, handle).await?;
        if owner.id != caller.user.id && owner.kind != UserKind::Service {
            return Err(AppError::Forbidden(format!(
                "{:?} is a human user: instance admins mint tokens for service users only, \
                 people mint their own",
                owner.handle.as_str()
            )));
        }
        let name =
            check_text("token name", &new.name, 64).map_err(|e| AppError::name("name", e))?;
        let (token, record) = new_token_record(owner.id, name);
        let audit = self.audit(
            caller,
            None,
            "token.create",
            format!("user/{}/token/{}", owner.handle, record.id),
            &["name"],
        );
        self.store.create_token(&record, &audit).await?;
        Ok(CreatedToken {
            id: record.id,
            token: token.token.expose().to_owned(),
        })
    }

    /// `GET /api/v1/users/{user}/tokens`: a user's tokens (never the tokens themselves).
    ///
    /// # Errors
    /// As [`App::create_token`].
    pub async fn list_tokens(
        &self,
        caller: &Caller,
        handle: &str,
        query: &PageQuery,
    ) -> Result<Page<TokenInfo>> {
        let owner = self.token_owner(caller, handle).await?;
        let (paging, page) = Paging::new(query)?;
        let rows = self.store.list_tokens(owner.id, &page).await?;
        paging.page(
            rows,
            |t| t.id.to_string(),
            |t| {
                Ok(TokenInfo {
                    id: t.id,
                    name: t.name,
                    created_at: timestamps::from_millis(t.created_at),
                })
            },
        )
    }

    /// `DELETE /api/v1/users/{user}/tokens/{id}`: revokes a token at once.
    ///
    /// # Errors
    /// As [`App::create_token`]; not found for an unknown token.
    #[instrument(skip_all, fields(actor = %caller.user.handle, user = handle))]
    pub async fn revoke_token(&self, caller: &Caller, handle: &str, token: &str) -> Result<()> {
        let owner = self.token_owner(caller, handle).await?;
        let id: TokenId = token
            .parse()
            .map_err(|_| AppError::NotFound(format!("token {token:?}")))?;
        let audit = self.audit(
            caller,
            None,
            "token.revoke",
            format!("user/{}/token/{id}", owner.handle),
            &[],
        );
        self.store
            .delete_token(owner.id, id, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "token"))
    }
}
