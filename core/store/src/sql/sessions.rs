//! The SQL of browser sessions and one-time sign-in links.

use async_trait::async_trait;

use super::{SqlStore, audit::write_audit, users::USER_COLUMNS};
use crate::{
    AuditRecord, Result, SessionRecord, SessionStore, SignInLinkRecord, UserRecord,
    records::rows::{SessionRow, UserRow},
};

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, session: &SessionRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, user_id, csrf_token, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.id_hash.as_slice())
        .bind(session.user_id.to_string())
        .bind(&session.csrf_token)
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_by_hash(
        &self,
        id_hash: &[u8; 32],
    ) -> Result<Option<(SessionRecord, UserRecord)>> {
        sqlx::query_as::<_, SessionRow>(
            "SELECT s.id_hash, s.csrf_token, s.created_at AS session_created_at, \
             s.last_seen_at, u.id, u.handle, u.display_name, u.kind, u.instance_admin, \
             u.created_at \
             FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
        )
        .bind(id_hash.as_slice())
        .fetch_optional(&self.pool)
        .await?
        .map(TryFrom::try_from)
        .transpose()
    }

    async fn touch_session(&self, id_hash: &[u8; 32], now_ms: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE web_sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now_ms)
            .bind(id_hash.as_slice())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_session(
        &self,
        id_hash: &[u8; 32],
        audit: Option<&AuditRecord>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
            .bind(id_hash.as_slice())
            .execute(&mut *tx)
            .await?;
        let deleted = done.rows_affected() > 0;
        if deleted && let Some(audit) = audit {
            write_audit(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn purge_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
        now_ms: i64,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let sessions =
            sqlx::query("DELETE FROM web_sessions WHERE last_seen_at < $1 OR created_at < $2")
                .bind(idle_before)
                .bind(created_before)
                .execute(&mut *tx)
                .await?;
        let links =
            sqlx::query("DELETE FROM sign_in_links WHERE used_at IS NOT NULL OR expires_at <= $1")
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(sessions.rows_affected() + links.rows_affected())
    }

    async fn create_sign_in_link(&self, link: &SignInLinkRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO sign_in_links (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(link.token_hash.as_slice())
        .bind(link.user_id.to_string())
        .bind(link.created_at)
        .bind(link.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn redeem_sign_in_link(
        &self,
        token_hash: &[u8; 32],
        now_ms: i64,
    ) -> Result<Option<UserRecord>> {
        let mut tx = self.begin_write().await?;
        let user: Option<String> = sqlx::query_scalar(
            "UPDATE sign_in_links SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
        )
        .bind(now_ms)
        .bind(token_hash.as_slice())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user) = user else {
            return Ok(None);
        };
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let user = sqlx::query_as::<_, UserRow>(&sql)
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?
            .map(UserRecord::try_from)
            .transpose()?;
        tx.commit().await?;
        Ok(user)
    }
}
