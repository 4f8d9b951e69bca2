//! The store's error, and the one mapper from sqlx errors to it.

/// What a store call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The object to change does not exist (any more).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique name is taken, or the change would break an invariant.
    #[error("{message}")]
    Conflict {
        /// The field at fault, when one is.
        field: Option<String>,
        /// What conflicts, for people.
        message: String,
    },
    /// The deployment already has a running operation; nothing was written.
    #[error("the deployment is busy: operation {operation} is running")]
    Busy {
        /// The running operation.
        operation: komander_domain::OperationId,
    },
    /// A caller's check refused what a write would leave (see
    /// [`ServicesCheck`](crate::ServicesCheck)); nothing was written.
    #[error("{message}")]
    Invalid {
        /// The request field at fault.
        field: String,
        /// What is wrong, for people.
        message: String,
    },
    /// The database holds something Komander did not write (a bad enum, id or JSON).
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Running the migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// A conflict without a field.
    pub fn conflict(message: impl Into<String>) -> Self {
        StoreError::Conflict {
            field: None,
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    /// Maps unique violations to [`StoreError::Conflict`] naming the field: constraints are
    /// named `<table>__<field>`, which PostgreSQL reports by name; SQLite reports only the
    /// message "UNIQUE constraint failed: table.a, table.b", whose last column is the field.
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err
            && db.is_unique_violation()
        {
            let field = match db.constraint() {
                Some(constraint) => constraint.rsplit("__").next().map(str::to_owned),
                None => db
                    .message()
                    .rsplit(['.', ' '])
                    .next()
                    .map(|c| c.trim().to_owned()),
            };
            let message = match field.as_deref() {
                Some(f) => format!("the {f} is already taken"),
                None => "already exists".to_owned(),
            };
            return StoreError::Conflict { field, message };
        }
        StoreError::Database(err)
    }
}
