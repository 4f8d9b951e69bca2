//! The SQL of the [`Store`](crate::Store), written once for both backends.
//!
//! SQLite and PostgreSQL share every statement here: placeholders are `$N` (which SQLite also
//! reads), booleans and blobs map to the same Rust types, times are integers. What differs (how
//! a write transaction begins, pool options) lives in `sqlite.rs` and `postgres.rs`, which
//! invoke [`impl_store!`] for their type. Multi-step writes lock the project's row first with a
//! no-op `UPDATE`, which serializes concurrent writers on PostgreSQL as `BEGIN IMMEDIATE` does on
//! SQLite, so invariants such as "a project keeps one Admin" hold under concurrency.

macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:literal) => {
        use $crate::{
            AuditRecord, ConnectionRecord, DeploymentRecord, EnvironmentRecord, InvitationRecord, MemberRecord,
            KvQuota, PageRequest, PluginRecord, ProjectRecord, Result, ServiceRecord, StoreError, StoredValue,
            TokenRecord, UserRecord, VariableRecord, records::rows::*,
        };
        use komander_domain::{
            DeploymentId, EnvironmentId, InvitationId, ProjectId, Role, ServiceId, TokenId, UserId,
            Visibility,
            api::UserKind,
            names::{
                DeploymentName, EnvironmentName, ProjectName, ServiceName, UserHandle,
                VariableName,
            },
        };

        type Conn = <$db as sqlx::Database>::Connection;

        fn decode_all<R, T>(rows: Vec<R>) -> Result<Vec<T>>
        where
            T: TryFrom<R, Error = StoreError>,
        {
            rows.into_iter().map(T::try_from).collect()
        }

        fn limit(page: &PageRequest) -> i64 {
            i64::from(page.limit)
        }

        fn kind(kind: UserKind) -> &'static str {
            match kind {
                UserKind::Human => "human",
                UserKind::Service => "service",
            }
        }

        fn expect_one(rows: u64, what: &'static str) -> Result<()> {
            if rows == 0 {
                Err(StoreError::NotFound(what))
            } else {
                Ok(())
            }
        }

        async fn write_audit(conn: &mut Conn, a: &AuditRecord) -> Result<()> {
            let fields = serde_json::to_string(&a.fields).expect("a list of strings serializes");
            sqlx::query(
                "INSERT INTO audit_log (id, project_id, actor_id, actor_handle, action, target, \
                 fields, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(a.id.to_string())
            .bind(a.project_id.map(|p| p.to_string()))
            .bind(a.actor_id.to_string())
            .bind(&a.actor_handle)
            .bind(&a.action)
            .bind(&a.target)
            .bind(fields)
            .bind(a.at)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        async fn insert_user(conn: &mut Conn, u: &UserRecord) -> Result<()> {
            sqlx::query(
                "INSERT INTO users (id, handle, display_name, kind, instance_admin, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(u.id.to_string())
            .bind(u.handle.as_str())
            .bind(&u.display_name)
            .bind(kind(u.kind))
            .bind(u.instance_admin)
            .bind(u.created_at)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        async fn insert_token(conn: &mut Conn, t: &TokenRecord) -> Result<()> {
            sqlx::query(
                "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(t.id.to_string())
            .bind(t.user_id.to_string())
            .bind(&t.name)
            .bind(t.token_hash.as_slice())
            .bind(t.created_at)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// Locks the project's row for the rest of the transaction (see the module docs).
        async fn lock_project(conn: &mut Conn, project: ProjectId) -> Result<()> {
            let done = sqlx::query("UPDATE projects SET updated_at = updated_at WHERE id = $1")
                .bind(project.to_string())
                .execute(&mut *conn)
                .await?;
            expect_one(done.rows_affected(), "project")
        }

        async fn admin_count(conn: &mut Conn, project: ProjectId) -> Result<i64> {
            Ok(sqlx::query_scalar(
                "SELECT COUNT(*) FROM members WHERE project_id = $1 AND role = 'admin'",
            )
            .bind(project.to_string())
            .fetch_one(&mut *conn)
            .await?)
        }

        async fn member_role(
            conn: &mut Conn,
            project: ProjectId,
            user: UserId,
        ) -> Result<Option<Role>> {
            let role: Option<String> = sqlx::query_scalar(
                "SELECT role FROM members WHERE project_id = $1 AND user_id = $2",
            )
            .bind(project.to_string())
            .bind(user.to_string())
            .fetch_optional(&mut *conn)
            .await?;
            Ok(role.as_deref().and_then(Role::parse))
        }

        const USER_COLUMNS: &str = "id, handle, display_name, kind, instance_admin, created_at";
        const PROJECT_COLUMNS: &str = "p.id, p.name, p.display_name, p.description, \
             p.created_by, p.created_at, p.updated_at, m.role";
        const ENVIRONMENT_COLUMNS: &str = "id, project_id, name, display_name, runtime, \
             executor, settings, created_at, updated_at";
        const DEPLOYMENT_SELECT: &str = "SELECT d.id, d.project_id, d.environment_id, d.name, \
             d.display_name, d.owner_id, u.handle AS owner_handle, d.shared, d.created_at, \
             d.updated_at FROM deployments d JOIN users u ON u.id = d.owner_id";
        const SERVICE_COLUMNS: &str =
            "id, deployment_id, name, image, ports, volumes, created_at, updated_at";
        const PLUGIN_COLUMNS: &str = "id, version, kind, world, digest, manifest, requested, \
             granted, status, installed_by, installed_at, updated_at, config";
        const VARIABLE_COLUMNS: &str = "id, service_id, name, secret, value, sealed, updated_at";

        impl $store {
            /// Runs a DELETE of one row (every bind is text) and writes its audit entry, in one
            /// transaction; [`StoreError::NotFound`] names `what` when no row matched.
            async fn delete_audited(
                &self,
                sql: &str,
                binds: &[String],
                what: &'static str,
                audit: &AuditRecord,
            ) -> Result<()> {
                let mut tx = self.begin().await?;
                let mut query = sqlx::query(sql);
                for bind in binds {
                    query = query.bind(bind.as_str());
                }
                let done = query.execute(&mut *tx).await?;
                expect_one(done.rows_affected(), what)?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            /// One keyset page of an instance-wide list whose SQL binds the cursor as `$1` and
            /// the limit as `$2`.
            async fn instance_page<R, T>(&self, sql: &str, page: &PageRequest) -> Result<Vec<T>>
            where
                R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
                T: TryFrom<R, Error = StoreError>,
            {
                decode_all(
                    sqlx::query_as::<_, R>(sql)
                        .bind(page.after.as_deref())
                        .bind(limit(page))
                        .fetch_all(&self.pool)
                        .await?,
                )
            }

            /// One keyset page of a list whose SQL binds the scope's id as `$1`, the cursor as
            /// `$2` and the limit as `$3`.
            async fn scoped_page<R, T>(
                &self,
                sql: &str,
                scope: String,
                page: &PageRequest,
            ) -> Result<Vec<T>>
            where
                R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
                T: TryFrom<R, Error = StoreError>,
            {
                decode_all(
                    sqlx::query_as::<_, R>(sql)
                        .bind(scope)
                        .bind(page.after.as_deref())
                        .bind(limit(page))
                        .fetch_all(&self.pool)
                        .await?,
                )
            }
        }

        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

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
                let mut tx = self.begin().await?;
                insert_user(&mut *tx, user).await?;
                if let Some(token) = token {
                    insert_token(&mut *tx, token).await?;
                }
                if let Some(audit) = audit {
                    write_audit(&mut *tx, audit).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn ensure_user_token(&self, user: &UserRecord, token: &TokenRecord) -> Result<()> {
                let mut tx = self.begin().await?;
                let existing: Option<String> =
                    sqlx::query_scalar("SELECT id FROM users WHERE handle = $1")
                        .bind(user.handle.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                let user_id = match existing {
                    Some(id) => {
                        sqlx::query("UPDATE users SET instance_admin = $1 WHERE id = $2")
                            .bind(true)
                            .bind(&id)
                            .execute(&mut *tx)
                            .await?;
                        id
                    }
                    None => {
                        insert_user(&mut *tx, user).await?;
                        user.id.to_string()
                    }
                };
                sqlx::query(
                    "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token_hash) DO NOTHING",
                )
                .bind(token.id.to_string())
                .bind(user_id)
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
                    "SELECT u.id, u.handle, u.display_name, u.kind, u.instance_admin, \
                     u.created_at FROM api_tokens t JOIN users u ON u.id = t.user_id \
                     WHERE t.token_hash = $1",
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
                let mut tx = self.begin().await?;
                insert_token(&mut *tx, token).await?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_tokens(
                &self,
                user: UserId,
                page: &PageRequest,
            ) -> Result<Vec<TokenRecord>> {
                self.scoped_page::<TokenRow, _>(
                    "SELECT id, user_id, name, token_hash, created_at FROM api_tokens \
                         WHERE user_id = $1 AND id > COALESCE($2, '') ORDER BY id LIMIT $3",
                    user.to_string(),
                    page,
                )
                .await
            }

            async fn delete_token(
                &self,
                user: UserId,
                token: TokenId,
                audit: &AuditRecord,
            ) -> Result<()> {
                self.delete_audited(
                    "DELETE FROM api_tokens WHERE id = $1 AND user_id = $2",
                    &[token.to_string(), user.to_string()],
                    "token",
                    audit,
                )
                .await
            }

            async fn create_project(
                &self,
                p: &ProjectRecord,
                audit: &AuditRecord,
            ) -> Result<()> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO projects (id, name, display_name, description, created_by, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(p.id.to_string())
                .bind(p.name.as_str())
                .bind(&p.display_name)
                .bind(&p.description)
                .bind(p.created_by.to_string())
                .bind(p.created_at)
                .bind(p.updated_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO members (project_id, project_name, user_id, role, created_at) \
                     VALUES ($1, $2, $3, 'admin', $4)",
                )
                .bind(p.id.to_string())
                .bind(p.name.as_str())
                .bind(p.created_by.to_string())
                .bind(p.created_at)
                .execute(&mut *tx)
                .await?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn project(
                &self,
                name: &ProjectName,
                viewer: UserId,
            ) -> Result<Option<(ProjectRecord, Option<Role>)>> {
                let sql = format!(
                    "SELECT {PROJECT_COLUMNS} FROM projects p LEFT JOIN members m \
                     ON m.project_id = p.id AND m.user_id = $1 WHERE p.name = $2"
                );
                sqlx::query_as::<_, ProjectRow>(&sql)
                    .bind(viewer.to_string())
                    .bind(name.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(ProjectRow::decode)
                    .transpose()
            }

            async fn list_projects(
                &self,
                visibility: Visibility,
                page: &PageRequest,
            ) -> Result<Vec<(ProjectRecord, Role)>> {
                let sql = format!(
                    "SELECT {PROJECT_COLUMNS} FROM members m JOIN projects p \
                     ON p.id = m.project_id WHERE m.user_id = $1 \
                     AND m.project_name > COALESCE($2, '') ORDER BY m.project_name LIMIT $3"
                );
                sqlx::query_as::<_, ProjectRow>(&sql)
                    .bind(visibility.user.to_string())
                    .bind(page.after.as_deref())
                    .bind(limit(page))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(|row| {
                        let (project, role) = row.decode()?;
                        let role = role.ok_or(StoreError::Corrupt {
                            table: "members",
                            detail: "a membership without a role".into(),
                        })?;
                        Ok((project, role))
                    })
                    .collect()
            }

            async fn update_project(&self, p: &ProjectRecord, audit: &AuditRecord) -> Result<()> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "UPDATE projects SET display_name = $1, description = $2, updated_at = $3 \
                     WHERE id = $4",
                )
                .bind(&p.display_name)
                .bind(&p.description)
                .bind(p.updated_at)
                .bind(p.id.to_string())
                .execute(&mut *tx)
                .await?;
                expect_one(done.rows_affected(), "project")?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_project(&self, project: ProjectId, audit: &AuditRecord) -> Result<()> {
                self.delete_audited(
                    "DELETE FROM projects WHERE id = $1",
                    &[project.to_string()],
                    "project",
                    audit,
                )
                .await
            }

            async fn list_members(
                &self,
                project: ProjectId,
                page: &PageRequest,
            ) -> Result<Vec<MemberRecord>> {
                self.scoped_page::<MemberRow, _>(
                    "SELECT m.user_id, u.handle, u.display_name, m.role, m.created_at \
                         FROM members m JOIN users u ON u.id = m.user_id \
                         WHERE m.project_id = $1 AND u.handle > COALESCE($2, '') \
                         ORDER BY u.handle LIMIT $3",
                    project.to_string(),
                    page,
                )
                .await
            }

            async fn member(
                &self,
                project: ProjectId,
                handle: &UserHandle,
            ) -> Result<Option<MemberRecord>> {
                sqlx::query_as::<_, MemberRow>(
                    "SELECT m.user_id, u.handle, u.display_name, m.role, m.created_at \
                     FROM members m JOIN users u ON u.id = m.user_id \
                     WHERE m.project_id = $1 AND u.handle = $2",
                )
                .bind(project.to_string())
                .bind(handle.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(MemberRecord::try_from)
                .transpose()
            }

            async fn add_member(
                &self,
                project: ProjectId,
                user: UserId,
                role: Role,
                audit: &AuditRecord,
            ) -> Result<()> {
                let mut tx = self.begin().await?;
                lock_project(&mut *tx, project).await?;
                if member_role(&mut *tx, project, user).await?.is_some() {
                    return Err(StoreError::Conflict {
                        field: Some("user".into()),
                        message: "the user is already a member of this project".into(),
                    });
                }
                sqlx::query(
                    "INSERT INTO members (project_id, project_name, user_id, role, created_at) \
                     SELECT id, name, $2, $3, $4 FROM projects WHERE id = $1",
                )
                .bind(project.to_string())
                .bind(user.to_string())
                .bind(role.as_str())
                .bind(audit.at)
                .execute(&mut *tx)
                .await?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn set_member_role(
                &self,
                project: ProjectId,
                user: UserId,
                role: Role,
                audit: &AuditRecord,
            ) -> Result<()> {
                let mut tx = self.begin().await?;
                lock_project(&mut *tx, project).await?;
                let current = member_role(&mut *tx, project, user)
                    .await?
                    .ok_or(StoreError::NotFound("member"))?;
                if current == Role::Admin
                    && role != Role::Admin
                    && admin_count(&mut *tx, project).await? <= 1
                {
                    return Err(StoreError::conflict(
                        "a project keeps at least one Admin: make another member Admin first",
                    ));
                }
                sqlx::query("UPDATE members SET role = $1 WHERE project_id = $2 AND user_id = $3")
                    .bind(role.as_str())
                    .bind(project.to_string())
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn remove_member(
                &self,
                project: ProjectId,
                user: UserId,
                force: bool,
                audit: &AuditRecord,
            ) -> Result<u64> {
                let mut tx = self.begin().await?;
                lock_project(&mut *tx, project).await?;
                let current = member_role(&mut *tx, project, user)
                    .await?
                    .ok_or(StoreError::NotFound("member"))?;
                if current == Role::Admin && admin_count(&mut *tx, project).await? <= 1 {
                    return Err(StoreError::conflict(
                        "a project keeps at least one Admin: the last Admin cannot be removed",
                    ));
                }
                let private: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM deployments \
                     WHERE project_id = $1 AND owner_id = $2 AND shared = $3",
                )
                .bind(project.to_string())
                .bind(user.to_string())
                .bind(false)
                .fetch_one(&mut *tx)
                .await?;
                if private > 0 && !force {
                    return Err(StoreError::conflict(format!(
                        "the member owns {private} private deployment(s) in this project; \
                         removing them deletes those: repeat with force=true"
                    )));
                }
                sqlx::query(
                    "DELETE FROM deployments \
                     WHERE project_id = $1 AND owner_id = $2 AND shared = $3",
                )
                .bind(project.to_string())
                .bind(user.to_string())
                .bind(false)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM members WHERE project_id = $1 AND user_id = $2")
                    .bind(project.to_string())
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(private as u64)
            }

            async fn create_invitation(
                &self,
                i: &InvitationRecord,
                audit: &AuditRecord,
            ) -> Result<()> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO invitations (id, project_id, token_hash, role, created_by, \
                     created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(i.id.to_string())
                .bind(i.project_id.to_string())
                .bind(i.token_hash.as_slice())
                .bind(i.role.as_str())
                .bind(i.created_by.to_string())
                .bind(i.created_at)
                .bind(i.expires_at)
                .execute(&mut *tx)
                .await?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_invitations(
                &self,
                project: ProjectId,
                page: &PageRequest,
            ) -> Result<Vec<InvitationRecord>> {
                self.scoped_page::<InvitationRow, _>(
                    "SELECT i.id, i.project_id, i.token_hash, i.role, i.created_by, \
                         c.handle AS created_by_handle, i.created_at, i.expires_at, \
                         a.handle AS accepted_by FROM invitations i \
                         JOIN users c ON c.id = i.created_by \
                         LEFT JOIN users a ON a.id = i.accepted_by \
                         WHERE i.project_id = $1 AND i.id < COALESCE($2, '~') \
                         ORDER BY i.id DESC LIMIT $3",
                    project.to_string(),
                    page,
                )
                .await
            }

            async fn delete_invitation(
                &self,
                project: ProjectId,
                invitation: InvitationId,
                audit: &AuditRecord,
            ) -> Result<()> {
                self.delete_audited(
                    "DELETE FROM invitations WHERE id = $1 AND project_id = $2",
                    &[invitation.to_string(), project.to_string()],
                    "invitation",
                    audit,
                )
                .await
            }

            async fn accept_invitation(
                &self,
                token_hash: &[u8; 32],
                user: &UserRecord,
                now_ms: i64,
            ) -> Result<ProjectName> {
                let mut tx = self.begin().await?;
                let found: Option<(String, String, String)> = sqlx::query_as(
                    "SELECT id, project_id, role FROM invitations \
                     WHERE token_hash = $1 AND accepted_by IS NULL AND expires_at > $2",
                )
                .bind(token_hash.as_slice())
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await?;
                let (id, project, role) = found.ok_or(StoreError::NotFound("invitation"))?;
                let project: ProjectId = $crate::records::parse("invitations", &project)?;
                lock_project(&mut *tx, project).await?;
                if member_role(&mut *tx, project, user.id).await?.is_some() {
                    return Err(StoreError::conflict("you are already a member of this project"));
                }
                let done = sqlx::query(
                    "UPDATE invitations SET accepted_by = $1, accepted_at = $2 \
                     WHERE id = $3 AND accepted_by IS NULL",
                )
                .bind(user.id.to_string())
                .bind(now_ms)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
                expect_one(done.rows_affected(), "invitation")?;
                sqlx::query(
                    "INSERT INTO members (project_id, project_name, user_id, role, created_at) \
                     SELECT id, name, $2, $3, $4 FROM projects WHERE id = $1",
                )
                .bind(project.to_string())
                .bind(user.id.to_string())
                .bind(&role)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                write_audit(
                    &mut tx,
                    &AuditRecord {
                        id: Default::default(),
                        project_id: Some(project),
                        actor_id: user.id,
                        actor_handle: user.handle.to_string(),
                        action: "invitation.accept".into(),
                        target: format!("invitation/{id}"),
                        fields: vec!["role".into()],
                        at: now_ms,
                    },
                )
                .await?;
                let name: String = sqlx::query_scalar("SELECT name FROM projects WHERE id = $1")
                    .bind(project.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                $crate::records::parse("projects", &name)
            }

            async fn create_environment(
                &self,
                e: &EnvironmentRecord,
                audit: &AuditRecord,
            ) -> Result<()> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO environments (id, project_id, name, display_name, runtime, \
                     executor, settings, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(e.id.to_string())
                .bind(e.project_id.to_string())
                .bind(e.name.as_str())
                .bind(&e.display_name)
                .bind(e.runtime.as_str())
                .bind(e.executor.as_str())
                .bind(serde_json::Value::Object(e.settings.clone()).to_string())
                .bind(e.created_at)
                .bind(e.updated_at)
                .execute(&mut *tx)
                .await?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn environment(
                &self,
                project: ProjectId,
                name: &EnvironmentName,
            ) -> Result<Option<EnvironmentRecord>> {
                let sql = format!(
                    "SELECT {ENVIRONMENT_COLUMNS} FROM environments \
                     WHERE project_id = $1 AND name = $2"
                );
                sqlx::query_as::<_, EnvironmentRow>(&sql)
                    .bind(project.to_string())
                    .bind(name.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(EnvironmentRecord::try_from)
                    .transpose()
            }

            async fn list_environments(
                &self,
                project: ProjectId,
                page: &PageRequest,
            ) -> Result<Vec<EnvironmentRecord>> {
                let sql = format!(
                    "SELECT {ENVIRONMENT_COLUMNS} FROM environments \
                     WHERE project_id = $1 AND name > COALESCE($2, '') ORDER BY name LIMIT $3"
                );
                self.scoped_page::<EnvironmentRow, _>(&sql, project.to_string(), page)
                    .await
            }

            async fn update_environment(
                &self,
                e: &EnvironmentRecord,
                audit: &AuditRecord,
            ) -> Result<()> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "UPDATE environments SET display_name = $1, executor = $2, settings = $3, \
                     updated_at = $4 WHERE id = $5",
                )
                .bind(&e.display_name)
                .bind(e.executor.as_str())
                .bind(serde_json::Value::Object(e.settings.clone()).to_string())
                .bind(e.updated_at)
                .bind(e.id.to_string())
                .execute(&mut *tx)
                .await?;
                expect_one(done.rows_affected(), "environment")?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_environment(
                &self,
                environment: EnvironmentId,
                force: bool,
                audit: &AuditRecord,
            ) -> Result<u64> {
                let mut tx = self.begin().await?;
                let held: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM deployments WHERE environment_id = $1",
                )
                .bind(environment.to_string())
                .fetch_one(&mut *tx)
                .await?;
                if held > 0 && !force {
                    return Err(StoreError::conflict(format!(
                        "the environment holds {held} deployment(s); an Admin may delete it \
                         with force=true, which destroys them"
                    )));
                }
                let done = sqlx::query("DELETE FROM environments WHERE id = $1")
                    .bind(environment.to_string())
                    .execute(&mut *tx)
                    .await?;
                expect_one(done.rows_affected(), "environment")?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(held as u64)
            }

            async fn create_deployment(
                &self,
                d: &DeploymentRecord,
                audit: &AuditRecord,
            ) -> Result<()> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO deployments (id, project_id, environment_id, name, \
                     display_name, owner_id, shared, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(d.id.to_string())
                .bind(d.project_id.to_string())
                .bind(d.environment_id.to_string())
                .bind(d.name.as_str())
                .bind(&d.display_name)
                .bind(d.owner_id.to_string())
                .bind(d.shared)
                .bind(d.created_at)
                .bind(d.updated_at)
                .execute(&mut *tx)
                .await?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn deployment(
                &self,
                environment: EnvironmentId,
                name: &DeploymentName,
            ) -> Result<Option<DeploymentRecord>> {
                let sql =
                    format!("{DEPLOYMENT_SELECT} WHERE d.environment_id = $1 AND d.name = $2");
                sqlx::query_as::<_, DeploymentRow>(&sql)
                    .bind(environment.to_string())
                    .bind(name.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(DeploymentRecord::try_from)
                    .transpose()
            }

            async fn list_deployments(
                &self,
                environment: EnvironmentId,
                visibility: Visibility,
                page: &PageRequest,
            ) -> Result<Vec<DeploymentRecord>> {
                let sql = format!(
                    "{DEPLOYMENT_SELECT} WHERE d.environment_id = $1 \
                     AND (d.shared = $2 OR d.owner_id = $3) AND d.name > COALESCE($4, '') \
                     ORDER BY d.name LIMIT $5"
                );
                decode_all(
                    sqlx::query_as::<_, DeploymentRow>(&sql)
                        .bind(environment.to_string())
                        .bind(true)
                        .bind(visibility.user.to_string())
                        .bind(page.after.as_deref())
                        .bind(limit(page))
                        .fetch_all(&self.pool)
                        .await?,
                )
            }

            async fn update_deployment(
                &self,
                d: &DeploymentRecord,
                audit: &AuditRecord,
            ) -> Result<()> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "UPDATE deployments SET display_name = $1, updated_at = $2 WHERE id = $3",
                )
                .bind(&d.display_name)
                .bind(d.updated_at)
                .bind(d.id.to_string())
                .execute(&mut *tx)
                .await?;
                expect_one(done.rows_affected(), "deployment")?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_deployment(
                &self,
                deployment: DeploymentId,
                audit: &AuditRecord,
            ) -> Result<()> {
                self.delete_audited(
                    "DELETE FROM deployments WHERE id = $1",
                    &[deployment.to_string()],
                    "deployment",
                    audit,
                )
                .await
            }

            async fn share_deployment(
                &self,
                deployment: DeploymentId,
                now_ms: i64,
                audit: &AuditRecord,
            ) -> Result<u64> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "UPDATE deployments SET shared = $1, updated_at = $2 \
                     WHERE id = $3 AND shared = $4",
                )
                .bind(true)
                .bind(now_ms)
                .bind(deployment.to_string())
                .bind(false)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::conflict("the deployment is already shared"));
                }
                let cleared = sqlx::query(
                    "UPDATE variables SET sealed = NULL, updated_at = $1 \
                     WHERE secret = $2 AND sealed IS NOT NULL AND service_id IN \
                     (SELECT id FROM services WHERE deployment_id = $3)",
                )
                .bind(now_ms)
                .bind(true)
                .bind(deployment.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(cleared)
            }

            async fn create_service(&self, s: &ServiceRecord, audit: &AuditRecord) -> Result<()> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO services (id, deployment_id, name, image, ports, volumes, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(s.id.to_string())
                .bind(s.deployment_id.to_string())
                .bind(s.name.as_str())
                .bind(&s.image)
                .bind(s.ports.to_string())
                .bind(s.volumes.to_string())
                .bind(s.created_at)
                .bind(s.updated_at)
                .execute(&mut *tx)
                .await?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn service(
                &self,
                deployment: DeploymentId,
                name: &ServiceName,
            ) -> Result<Option<ServiceRecord>> {
                let sql = format!(
                    "SELECT {SERVICE_COLUMNS} FROM services WHERE deployment_id = $1 AND name = $2"
                );
                sqlx::query_as::<_, ServiceRow>(&sql)
                    .bind(deployment.to_string())
                    .bind(name.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(ServiceRecord::try_from)
                    .transpose()
            }

            async fn list_services(
                &self,
                deployment: DeploymentId,
                page: &PageRequest,
            ) -> Result<Vec<ServiceRecord>> {
                let sql = format!(
                    "SELECT {SERVICE_COLUMNS} FROM services WHERE deployment_id = $1 \
                     AND name > COALESCE($2, '') ORDER BY name LIMIT $3"
                );
                self.scoped_page::<ServiceRow, _>(&sql, deployment.to_string(), page)
                    .await
            }

            async fn update_service(&self, s: &ServiceRecord, audit: &AuditRecord) -> Result<()> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "UPDATE services SET image = $1, ports = $2, volumes = $3, updated_at = $4 \
                     WHERE id = $5",
                )
                .bind(&s.image)
                .bind(s.ports.to_string())
                .bind(s.volumes.to_string())
                .bind(s.updated_at)
                .bind(s.id.to_string())
                .execute(&mut *tx)
                .await?;
                expect_one(done.rows_affected(), "service")?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_service(&self, service: ServiceId, audit: &AuditRecord) -> Result<()> {
                self.delete_audited(
                    "DELETE FROM services WHERE id = $1",
                    &[service.to_string()],
                    "service",
                    audit,
                )
                .await
            }

            async fn variable(
                &self,
                service: ServiceId,
                name: &VariableName,
            ) -> Result<Option<VariableRecord>> {
                let sql = format!(
                    "SELECT {VARIABLE_COLUMNS} FROM variables WHERE service_id = $1 AND name = $2"
                );
                sqlx::query_as::<_, VariableRow>(&sql)
                    .bind(service.to_string())
                    .bind(name.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(VariableRecord::try_from)
                    .transpose()
            }

            async fn list_variables(
                &self,
                service: ServiceId,
                page: &PageRequest,
            ) -> Result<Vec<VariableRecord>> {
                let sql = format!(
                    "SELECT {VARIABLE_COLUMNS} FROM variables WHERE service_id = $1 \
                     AND name > COALESCE($2, '') ORDER BY name LIMIT $3"
                );
                self.scoped_page::<VariableRow, _>(&sql, service.to_string(), page)
                    .await
            }

            async fn deployment_variables(
                &self,
                deployment: DeploymentId,
            ) -> Result<Vec<VariableRecord>> {
                decode_all(
                    sqlx::query_as::<_, VariableRow>(
                        "SELECT v.id, v.service_id, v.name, v.secret, v.value, v.sealed, \
                         v.updated_at FROM variables v JOIN services s ON s.id = v.service_id \
                         WHERE s.deployment_id = $1 ORDER BY s.name, v.name",
                    )
                    .bind(deployment.to_string())
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn put_variable(&self, v: &VariableRecord, audit: &AuditRecord) -> Result<()> {
                let (value, sealed) = match &v.value {
                    StoredValue::Empty => (None, None),
                    StoredValue::Plain(p) => (Some(p.as_str()), None),
                    StoredValue::Sealed(s) => (None, Some(s.as_slice())),
                };
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO variables (id, service_id, name, secret, value, sealed, \
                     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (service_id, name) DO UPDATE SET id = excluded.id, \
                     secret = excluded.secret, value = excluded.value, \
                     sealed = excluded.sealed, updated_at = excluded.updated_at",
                )
                .bind(v.id.to_string())
                .bind(v.service_id.to_string())
                .bind(v.name.as_str())
                .bind(v.secret)
                .bind(value)
                .bind(sealed)
                .bind(v.updated_at)
                .execute(&mut *tx)
                .await?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_variable(
                &self,
                service: ServiceId,
                name: &VariableName,
                audit: &AuditRecord,
            ) -> Result<()> {
                self.delete_audited(
                    "DELETE FROM variables WHERE service_id = $1 AND name = $2",
                    &[service.to_string(), name.to_string()],
                    "variable",
                    audit,
                )
                .await
            }

            async fn create_plugin(&self, p: &PluginRecord, audit: &AuditRecord) -> Result<()> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO plugins (id, version, kind, world, digest, manifest, requested, \
                     granted, status, installed_by, installed_at, updated_at, config) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(&p.id)
                .bind(&p.version)
                .bind(&p.kind)
                .bind(p.world.as_deref())
                .bind(&p.digest)
                .bind(&p.manifest)
                .bind(serde_json::to_string(&p.requested).expect("strings serialize"))
                .bind(serde_json::to_string(&p.granted).expect("strings serialize"))
                .bind(p.status.as_str())
                .bind(p.installed_by.to_string())
                .bind(p.installed_at)
                .bind(p.updated_at)
                .bind(&p.config)
                .execute(&mut *tx)
                .await
                .map_err(|e| match StoreError::from(e) {
                    StoreError::Conflict { .. } => StoreError::Conflict {
                        field: Some("id".into()),
                        message: format!("a plugin with id {:?} is installed: upgrade it", p.id),
                    },
                    other => other,
                })?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_plugin(&self, p: &PluginRecord, audit: &AuditRecord) -> Result<()> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "UPDATE plugins SET version = $1, kind = $2, world = $3, digest = $4, \
                     manifest = $5, requested = $6, granted = $7, status = $8, \
                     installed_by = $9, updated_at = $10, config = $11 WHERE id = $12",
                )
                .bind(&p.version)
                .bind(&p.kind)
                .bind(p.world.as_deref())
                .bind(&p.digest)
                .bind(&p.manifest)
                .bind(serde_json::to_string(&p.requested).expect("strings serialize"))
                .bind(serde_json::to_string(&p.granted).expect("strings serialize"))
                .bind(p.status.as_str())
                .bind(p.installed_by.to_string())
                .bind(p.updated_at)
                .bind(&p.config)
                .bind(&p.id)
                .execute(&mut *tx)
                .await?;
                expect_one(done.rows_affected(), "plugin")?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn plugin(&self, id: &str) -> Result<Option<PluginRecord>> {
                let sql = format!("SELECT {PLUGIN_COLUMNS} FROM plugins WHERE id = $1");
                sqlx::query_as::<_, PluginRow>(&sql)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(PluginRecord::try_from)
                    .transpose()
            }

            async fn list_plugins(&self, page: &PageRequest) -> Result<Vec<PluginRecord>> {
                let sql = format!(
                    "SELECT {PLUGIN_COLUMNS} FROM plugins WHERE id > COALESCE($1, '') \
                     ORDER BY id LIMIT $2"
                );
                self.instance_page::<PluginRow, _>(&sql, page).await
            }

            async fn delete_plugin(&self, id: &str, audit: &AuditRecord) -> Result<()> {
                self.delete_audited(
                    "DELETE FROM plugins WHERE id = $1",
                    &[id.to_owned()],
                    "plugin",
                    audit,
                )
                .await
            }

            async fn kv_get(&self, plugin: &str, project: &str, key: &str) -> Result<Option<Vec<u8>>> {
                Ok(sqlx::query_scalar(
                    "SELECT value FROM plugin_kv WHERE plugin_id = $1 AND project_id = $2 AND key = $3",
                )
                .bind(plugin)
                .bind(project)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn kv_set(
                &self,
                plugin: &str,
                project: &str,
                key: &str,
                value: &[u8],
                quota: KvQuota,
            ) -> Result<()> {
                let mut tx = self.begin().await?;
                // Lock the install's row: concurrent writers of one scope take turns, so the
                // quota holds.
                let locked = sqlx::query("UPDATE plugins SET updated_at = updated_at WHERE id = $1")
                    .bind(plugin)
                    .execute(&mut *tx)
                    .await?;
                expect_one(locked.rows_affected(), "plugin")?;
                let (keys, bytes, replaced, present): (i64, i64, i64, i64) = sqlx::query_as(
                    "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(CASE WHEN key = $3 THEN size ELSE 0 END), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(CASE WHEN key = $3 THEN 1 ELSE 0 END), 0) AS BIGINT) \
                     FROM plugin_kv WHERE plugin_id = $1 AND project_id = $2",
                )
                .bind(plugin)
                .bind(project)
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
                let size = (key.len() + value.len()) as i64;
                let new_key = present == 0;
                if new_key && keys as u64 >= quota.keys {
                    return Err(StoreError::conflict(format!(
                        "kv quota: at most {} keys", quota.keys
                    )));
                }
                if (bytes - replaced + size) as u64 > quota.bytes {
                    return Err(StoreError::conflict(format!(
                        "kv quota: at most {} bytes of keys and values", quota.bytes
                    )));
                }
                sqlx::query(
                    "INSERT INTO plugin_kv (plugin_id, project_id, key, value, size) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (plugin_id, project_id, key) \
                     DO UPDATE SET value = excluded.value, size = excluded.size",
                )
                .bind(plugin)
                .bind(project)
                .bind(key)
                .bind(value)
                .bind(size)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn kv_delete(&self, plugin: &str, project: &str, key: &str) -> Result<bool> {
                let done = sqlx::query(
                    "DELETE FROM plugin_kv WHERE plugin_id = $1 AND project_id = $2 AND key = $3",
                )
                .bind(plugin)
                .bind(project)
                .bind(key)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn kv_keys(
                &self,
                plugin: &str,
                project: &str,
                prefix: &str,
                limit: u32,
            ) -> Result<Vec<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT key FROM plugin_kv WHERE plugin_id = $1 AND project_id = $2 \
                     AND substr(key, 1, length($3)) = $3 ORDER BY key LIMIT $4",
                )
                .bind(plugin)
                .bind(project)
                .bind(prefix)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?)
            }

            async fn plugin_connections(&self, plugin: &str) -> Result<Vec<ConnectionRecord>> {
                decode_all(
                    sqlx::query_as::<_, ConnectionRow>(
                        "SELECT id, plugin_id, name, base_url, credential, allow_private, \
                         path_prefixes, requests_per_minute, updated_at \
                         FROM plugin_connections WHERE plugin_id = $1 ORDER BY name",
                    )
                    .bind(plugin)
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn put_plugin_connection(
                &self,
                c: &ConnectionRecord,
                audit: &AuditRecord,
            ) -> Result<()> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO plugin_connections (id, plugin_id, name, base_url, credential, \
                     allow_private, path_prefixes, requests_per_minute, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (plugin_id, name) DO UPDATE SET id = excluded.id, \
                     base_url = excluded.base_url, credential = excluded.credential, \
                     allow_private = excluded.allow_private, \
                     path_prefixes = excluded.path_prefixes, \
                     requests_per_minute = excluded.requests_per_minute, \
                     updated_at = excluded.updated_at",
                )
                .bind(&c.id)
                .bind(&c.plugin_id)
                .bind(&c.name)
                .bind(&c.base_url)
                .bind(c.credential.as_deref())
                .bind(c.allow_private)
                .bind(serde_json::to_string(&c.path_prefixes).expect("strings serialize"))
                .bind(c.requests_per_minute)
                .bind(c.updated_at)
                .execute(&mut *tx)
                .await?;
                write_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_plugin_connection(
                &self,
                plugin: &str,
                name: &str,
                audit: &AuditRecord,
            ) -> Result<()> {
                self.delete_audited(
                    "DELETE FROM plugin_connections WHERE plugin_id = $1 AND name = $2",
                    &[plugin.to_owned(), name.to_owned()],
                    "connection",
                    audit,
                )
                .await
            }

            async fn record_audit(&self, audit: &AuditRecord) -> Result<()> {
                let mut conn = self.pool.acquire().await?;
                write_audit(&mut conn, audit).await
            }

            async fn list_audit(
                &self,
                project: ProjectId,
                page: &PageRequest,
            ) -> Result<Vec<AuditRecord>> {
                self.scoped_page::<AuditRow, _>(
                    "SELECT id, project_id, actor_id, actor_handle, action, target, fields, at \
                         FROM audit_log WHERE project_id = $1 AND id < COALESCE($2, '~') \
                         ORDER BY id DESC LIMIT $3",
                    project.to_string(),
                    page,
                )
                .await
            }
        }
    };
}

pub(crate) use impl_store;
