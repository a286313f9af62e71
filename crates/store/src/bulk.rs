//! Batched multi-row inserts, written once for both backends: the demo loader and the
//! importers push rows of [`Value`]s and the batches go out as multi-row `INSERT`s, many rows
//! per statement and many statements per transaction (one fsync per batch, not per row).

use chrono::{DateTime, NaiveDate, Utc};

use crate::{Db, Result};

/// A value to bind, independent of the backend.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    OptText(Option<String>),
    I64(i64),
    OptI64(Option<i64>),
    F64(f64),
    OptF64(Option<f64>),
    Bool(bool),
    Date(NaiveDate),
    OptDate(Option<NaiveDate>),
    Time(DateTime<Utc>),
    OptTime(Option<DateTime<Utc>>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}
impl From<Option<String>> for Value {
    fn from(s: Option<String>) -> Self {
        Value::OptText(s)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::I64(v)
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::OptI64(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}
impl From<Option<f64>> for Value {
    fn from(v: Option<f64>) -> Self {
        Value::OptF64(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<NaiveDate> for Value {
    fn from(v: NaiveDate) -> Self {
        Value::Date(v)
    }
}
impl From<Option<NaiveDate>> for Value {
    fn from(v: Option<NaiveDate>) -> Self {
        Value::OptDate(v)
    }
}
impl From<DateTime<Utc>> for Value {
    fn from(v: DateTime<Utc>) -> Self {
        Value::Time(v)
    }
}

/// Bind parameters per statement: below SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_BINDS: usize = 30_000;
/// Rows per statement, whatever the width.
const MAX_ROWS: usize = 1_000;

#[macro_export]
macro_rules! push_value {
    ($sep:expr, $v:expr) => {
        match $v {
            Value::Text(s) => $sep.push_bind(s),
            Value::OptText(s) => $sep.push_bind(s),
            Value::I64(x) => $sep.push_bind(x),
            Value::OptI64(x) => $sep.push_bind(x),
            Value::F64(x) => $sep.push_bind(x),
            Value::OptF64(x) => $sep.push_bind(x),
            Value::Bool(x) => $sep.push_bind(x),
            Value::Date(x) => $sep.push_bind(x),
            Value::OptDate(x) => $sep.push_bind(x),
            Value::Time(x) => $sep.push_bind(x),
            Value::OptTime(x) => $sep.push_bind(x),
        }
    };
}

impl Db {
    /// Insert `rows` into `table` in one transaction, in multi-row statements.
    ///
    /// `table` and `columns` are identifiers from the code, never user input.
    pub async fn insert_rows(
        &self,
        table: &'static str,
        columns: &'static [&'static str],
        rows: Vec<Vec<Value>>,
    ) -> Result<u64> {
        self.insert_rows_then(table, columns, rows, "").await
    }

    /// As [`Db::insert_rows`], with a clause after the values, e.g. an
    /// `ON CONFLICT (…) DO UPDATE SET …` that both backends understand.
    pub async fn insert_rows_then(
        &self,
        table: &'static str,
        columns: &'static [&'static str],
        rows: Vec<Vec<Value>>,
        tail: &'static str,
    ) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let per_stmt = (MAX_BINDS / columns.len()).clamp(1, MAX_ROWS);
        let head = format!("INSERT INTO {table} ({}) ", columns.join(", "));
        let mut total = 0;
        let mut rows = rows.into_iter().peekable();
        on_write!(self, tx => {
            while rows.peek().is_some() {
                let chunk: Vec<Vec<Value>> = rows.by_ref().take(per_stmt).collect();
                let mut qb = sqlx::QueryBuilder::new(head.clone());
                qb.push_values(chunk, |mut sep, row| {
                    debug_assert_eq!(row.len(), columns.len());
                    for v in row {
                        push_value!(sep, v);
                    }
                });
                qb.push(tail);
                total += qb.build().execute(&mut **tx).await?.rows_affected();
            }
        });
        Ok(total)
    }
}
