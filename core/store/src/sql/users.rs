//! The SQL of users and their API tokens.

use async_trait::async_trait;
use komander_domain::{TokenId, UserId, api::UserKind, names::UserHandle};

use super::{Conn, SqlStore, audit::write_audit};
use crate::{
    AuditRecord, PageRequest, Result, StoreError, TokenRecord, UserRecord, UserStore,
    records::rows::{TokenRow, UserRow},
};

/// The columns of a user, in [`UserRow`]'s order.
pub(super) const USER_COLUMNS: &str = "id, handle, display_name, kind, instance_admin, created_at";

/// A user kind as stored.
fn kind(kind: UserKind) -> &'static str {
    match kind {
        UserKind::Human => "human",
        UserKind::Service => "service",
    }
}

async fn insert_user(conn: &mut Conn, user: &UserRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, handle, display_name, kind, instance_admin, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user.id.to_string())
    .bind(user.handle.as_str())
    .bind(&user.display_name)
    .bind(kind(user.kind))
    .bind(user.instance_admin)
    .bind(user.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_token(conn: &mut Conn, token: &TokenRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token.id.to_string())
    .bind(token.user_id.to_string())
    .bind(&token.name)
    .bind(token.token_hash.as_slice())
    .bind(token.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait]
impl UserStore for SqlStore {
    async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn create_user(
        &self,
        user: &UserRecord,
        token: Option<&TokenRecord>,
        audit: Option<&AuditRecord>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_user(&mut tx, user).await?;
        if let Some(token) = token {
            insert_token(&mut tx, token).await?;
        }
        if let Some(audit) = audit {
            write_audit(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn ensure_user_token(&self, user: &UserRecord, token: &TokenRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE handle = $1");
        let existing = sqlx::query_as::<_, UserRow>(&sql)
            .bind(user.handle.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .map(UserRecord::try_from)
            .transpose()?;
        let user_id = match existing {
            Some(found) if found.kind == user.kind && found.instance_admin => found.id,
            Some(_) => {
                return Err(StoreError::Conflict {
                    field: Some("handle".into()),
                    message: format!(
                        "a user {:?} exists that is not an instance-admin {} user: it is not \
                         made one",
                        user.handle.as_str(),
                        kind(user.kind)
                    ),
                });
            }
            None => {
                insert_user(&mut tx, user).await?;
                user.id
            }
        };
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(token.id.to_string())
        .bind(user_id.to_string())
        .bind(&token.name)
        .bind(token.token_hash.as_slice())
        .bind(token.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn user_by_handle(&self, handle: &UserHandle) -> Result<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE handle = $1");
        sqlx::query_as::<_, UserRow>(&sql)
            .bind(handle.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(UserRecord::try_from)
            .transpose()
    }

    async fn user_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<UserRecord>> {
        sqlx::query_as::<_, UserRow>(
            "SELECT u.id, u.handle, u.display_name, u.kind, u.instance_admin, u.created_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
        )
        .bind(token_hash.as_slice())
        .fetch_optional(&self.pool)
        .await?
        .map(UserRecord::try_from)
        .transpose()
    }

    async fn list_users(&self, page: &PageRequest) -> Result<Vec<UserRecord>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE handle > COALESCE($1, '') \
             ORDER BY handle LIMIT $2"
        );
        self.instance_page::<UserRow, _>(&sql, page).await
    }

    async fn create_token(&self, token: &TokenRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_token(&mut tx, token).await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_tokens(&self, user: UserId, page: &PageRequest) -> Result<Vec<TokenRecord>> {
        self.scoped_page::<TokenRow, _>(
            "SELECT id, user_id, name, token_hash, created_at FROM api_tokens \
             WHERE user_id = $1 AND id > COALESCE($2, '') ORDER BY id LIMIT $3",
            user.to_string(),
            page,
        )
        .await
    }

    async fn delete_token(&self, user: UserId, token: TokenId, audit: &AuditRecord) -> Result<()> {
        self.delete_audited(
            "DELETE FROM api_tokens WHERE id = $1 AND user_id = $2",
            &[token.to_string(), user.to_string()],
            "token",
            audit,
        )
        .await
    }
}
