//! Small helpers over the driver: cached prepared statements (one round trip per statement
//! after the first use on a connection), typed column reads that answer `Corrupt` instead of
//! panicking, and a builder for queries with optional filters.

use deadpool_postgres::GenericClient;
use poigate_store::{StoreError, StoreResult};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql};

pub type Param<'a> = &'a (dyn ToSql + Sync);

pub async fn exec<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[Param<'_>],
) -> Result<u64, tokio_postgres::Error> {
    let stmt = c.prepare_cached(sql).await?;
    c.execute(&stmt, params).await
}

pub async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let stmt = c.prepare_cached(sql).await?;
    c.query(&stmt, params).await
}

pub async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Option<Row>, tokio_postgres::Error> {
    let stmt = c.prepare_cached(sql).await?;
    c.query_opt(&stmt, params).await
}

/// Column `i` of a row as `T`; a type the schema does not promise is `Corrupt`.
pub fn col<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> StoreResult<T> {
    row.try_get(i)
        .map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
}

/// A `u32` counter kept as `bigint`.
pub fn col_u32(row: &Row, i: usize) -> StoreResult<u32> {
    let v: i64 = col(row, i)?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {i}: {v} out of range")))
}

/// A sequence number (`u64`) as the `bigint` PostgreSQL keeps; beyond `i64::MAX` is refused.
pub fn seq(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt("seq overflow".into()))
}

/// A query assembled from optional filters, numbering its `$n` placeholders.
pub struct Filtered {
    pub sql: String,
    args: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Filtered {
    pub fn new(select: &str) -> Filtered {
        Filtered {
            sql: select.to_string(),
            args: Vec::new(),
        }
    }

    /// Appends `clause` with `{}` replaced by the next placeholder, bound to `value`.
    pub fn push(&mut self, clause: &str, value: impl ToSql + Sync + Send + 'static) {
        self.args.push(Box::new(value));
        let placeholder = format!("${}", self.args.len());
        self.sql.push_str(&clause.replace("{}", &placeholder));
    }

    pub fn params(&self) -> Vec<Param<'_>> {
        self.args.iter().map(|b| b.as_ref() as Param<'_>).collect()
    }
}
