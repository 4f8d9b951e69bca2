//! Users and their API tokens.

use async_trait::async_trait;
use komander_domain::{TokenId, UserId, names::UserHandle};

use crate::{AuditRecord, PageRequest, Result, TokenRecord, UserRecord};

/// Users and their API tokens. Implemented in `sql/users.rs`.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// How many users exist.
    async fn count_users(&self) -> Result<i64>;

    /// Creates a user, with its first API token when given.
    async fn create_user(
        &self,
        user: &UserRecord,
        token: Option<&TokenRecord>,
        audit: Option<&AuditRecord>,
    ) -> Result<()>;

    /// Makes sure `token` exists for `user` (an instance admin), creating the user when its
    /// handle is free: used for the bootstrap token. A user who holds the handle already gets
    /// the token only when it is an instance admin of the same kind: nobody is promoted.
    /// [`StoreError::Conflict`](crate::StoreError::Conflict) on `handle` otherwise, with
    /// nothing changed.
    async fn ensure_user_token(&self, user: &UserRecord, token: &TokenRecord) -> Result<()>;

    /// The user with this handle.
    async fn user_by_handle(&self, handle: &UserHandle) -> Result<Option<UserRecord>>;

    /// The user holding the token with this SHA-256.
    async fn user_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<UserRecord>>;

    /// Users in handle order.
    async fn list_users(&self, page: &PageRequest) -> Result<Vec<UserRecord>>;

    /// Creates an API token.
    async fn create_token(&self, token: &TokenRecord, audit: &AuditRecord) -> Result<()>;

    /// A user's tokens in id order.
    async fn list_tokens(&self, user: UserId, page: &PageRequest) -> Result<Vec<TokenRecord>>;

    /// Revokes a user's token.
    async fn delete_token(&self, user: UserId, token: TokenId, audit: &AuditRecord) -> Result<()>;
}
