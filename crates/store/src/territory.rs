//! The territory tree and its subtree counts.

use std::collections::HashMap;

use domain::{Level, TerritoryCode};
use serde::Serialize;
use sqlx::Row;

use crate::bulk::Value;
use crate::{Db, Result, StoreError};

/// The half-open range `[lo, hi)` of the codes that start with `prefix`, for a
/// `territory >= lo AND territory < hi` that the territory indexes serve on both engines (a
/// `LIKE 'p%'` is not served by SQLite's, nor by PostgreSQL's under most collations).
///
/// Codes are digits; `hi` is the prefix plus one (`623027` → `623028`, `623029` → `623030`),
/// which orders the same under every collation. (A `:` after the prefix, next to `9` in ASCII,
/// does not: ICU and glibc collations skip punctuation, and `6230272` sorts after `623027:`.)
/// A prefix of nines has no greater code of its length; every code starting with it sorts below
/// `a` in every collation.
pub fn code_range(prefix: &str) -> (String, String) {
    let mut hi = prefix.as_bytes().to_vec();
    while let Some(last) = hi.pop() {
        if last.is_ascii_digit() && last != b'9' {
            hi.push(last + 1);
            return (prefix.to_owned(), String::from_utf8(hi).unwrap_or_default());
        }
    }
    (prefix.to_owned(), "a".to_owned())
}

/// A territory node as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TerritoryRecord {
    pub code: TerritoryCode,
    pub parent: Option<TerritoryCode>,
    pub level: Level,
    pub name: String,
    pub name_bo: Option<String>,
    /// GeoJSON geometry (WGS-84) as text, where the node has an outline.
    pub geometry: Option<String>,
    /// `official` or `generated`.
    pub geometry_source: Option<String>,
    /// A representative point (lng, lat).
    pub center: Option<(f64, f64)>,
}

/// Counts of a node's subtree, kept in `territory_counts`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub households: i64,
    pub members: i64,
    pub groups: i64,
    pub grids: i64,
}

pub const TERRITORY_COLUMNS: &[&str] = &[
    "code",
    "parent",
    "level",
    "name",
    "name_bo",
    "geometry",
    "geometry_source",
    "center_lng",
    "center_lat",
];

impl TerritoryRecord {
    pub fn into_values(self) -> Vec<Value> {
        vec![
            self.code.to_string().into(),
            self.parent.map(String::from).into(),
            self.level.as_str().into(),
            self.name.into(),
            self.name_bo.into(),
            self.geometry.into(),
            self.geometry_source.into(),
            self.center.map(|c| c.0).into(),
            self.center.map(|c| c.1).into(),
        ]
    }
}

fn code_of(s: String) -> Result<TerritoryCode> {
    TerritoryCode::parse(&s).map_err(|e| StoreError::Corrupt(format!("territory code {s}: {e}")))
}

/// The subtree counts of a row with the `territory_counts` columns (`n_households`, `n_members`,
/// `n_groups`, `n_grids`). A missing row of a LEFT JOIN reads as zero counts.
macro_rules! counts_from_row {
    ($r:expr) => {{
        let r = $r;
        let n = |col: &str| -> $crate::Result<i64> {
            Ok(r.try_get::<Option<i64>, _>(col)?.unwrap_or(0))
        };
        $crate::territory::Counts {
            households: n("n_households")?,
            members: n("n_members")?,
            groups: n("n_groups")?,
            grids: n("n_grids")?,
        }
    }};
}

macro_rules! territory_from_row {
    ($r:expr, $with_geometry:expr) => {{
        let r = $r;
        let level: String = r.try_get("level")?;
        let lng: Option<f64> = r.try_get("center_lng")?;
        let lat: Option<f64> = r.try_get("center_lat")?;
        TerritoryRecord {
            code: code_of(r.try_get("code")?)?,
            parent: r
                .try_get::<Option<String>, _>("parent")?
                .map(code_of)
                .transpose()?,
            level: Level::parse(&level)
                .ok_or_else(|| StoreError::Corrupt(format!("level {level}")))?,
            name: r.try_get("name")?,
            name_bo: r.try_get("name_bo")?,
            geometry: if $with_geometry {
                r.try_get("geometry")?
            } else {
                None
            },
            geometry_source: r.try_get("geometry_source")?,
            center: lng.zip(lat),
        }
    }};
}

impl Db {
    /// Insert territory nodes (parents before children).
    pub async fn insert_territories(&self, nodes: Vec<TerritoryRecord>) -> Result<u64> {
        let rows = nodes
            .into_iter()
            .map(TerritoryRecord::into_values)
            .collect();
        self.insert_rows("territories", TERRITORY_COLUMNS, rows)
            .await
    }

    /// Whether any territory is loaded.
    pub async fn has_territory(&self) -> Result<bool> {
        let n: i64 = on_read!(self, pool => {
            sqlx::query("SELECT COUNT(*) AS n FROM territories")
                .fetch_one(pool)
                .await?
                .try_get("n")?
        });
        Ok(n > 0)
    }

    /// One node with its geometry, or `None`.
    pub async fn territory(&self, code: &TerritoryCode) -> Result<Option<TerritoryRecord>> {
        on_read!(self, pool => {
            let row = sqlx::query("SELECT * FROM territories WHERE code = $1")
                .bind(code.as_str())
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(r) => Some(territory_from_row!(&r, true)),
                None => None,
            })
        })
    }

    /// The children of a node, ordered by code; with their outlines when `with_geometry`.
    pub async fn territory_children(
        &self,
        code: &TerritoryCode,
        with_geometry: bool,
    ) -> Result<Vec<TerritoryRecord>> {
        on_read!(self, pool => {
            let rows = sqlx::query("SELECT * FROM territories WHERE parent = $1 ORDER BY code")
                .bind(code.as_str())
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| Ok(territory_from_row!(r, with_geometry)))
                .collect()
        })
    }

    /// The codes of a node's children, ordered.
    pub async fn territory_child_codes(&self, code: &TerritoryCode) -> Result<Vec<TerritoryCode>> {
        on_read!(self, pool => {
            let rows = sqlx::query("SELECT code FROM territories WHERE parent = $1 ORDER BY code")
                .bind(code.as_str())
                .fetch_all(pool)
                .await?;
            rows.iter().map(|r| code_of(r.try_get("code")?)).collect()
        })
    }

    /// Every node of one level inside a subtree, with outlines (e.g. all grids of a county).
    pub async fn territories_at_level(
        &self,
        within: &TerritoryCode,
        level: Level,
        with_geometry: bool,
    ) -> Result<Vec<TerritoryRecord>> {
        let prefix = format!("{}%", within.subtree_prefix());
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM territories WHERE level = $1 AND code LIKE $2 ORDER BY code",
            )
            .bind(level.as_str())
            .bind(prefix)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok(territory_from_row!(r, with_geometry)))
                .collect()
        })
    }

    /// Search nodes by name (Chinese or Tibetan), within a subtree.
    pub async fn search_territories(
        &self,
        within: &TerritoryCode,
        q: &str,
        limit: i64,
    ) -> Result<Vec<TerritoryRecord>> {
        let prefix = format!("{}%", within.subtree_prefix());
        let pattern = format!("%{}%", escape_like(q));
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM territories WHERE code LIKE $1 \
                 AND (name LIKE $2 ESCAPE '\\' OR name_bo LIKE $2 ESCAPE '\\' OR code LIKE $3) \
                 ORDER BY length(code), code LIMIT $4",
            )
            .bind(prefix)
            .bind(pattern)
            .bind(format!("{}%", escape_like(q)))
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(territory_from_row!(r, false))).collect()
        })
    }

    /// The subtree counts of a node (zero when none were computed).
    pub async fn territory_counts(&self, code: &TerritoryCode) -> Result<Counts> {
        on_read!(self, pool => {
            let row = sqlx::query(
                "SELECT n_households, n_members, n_groups, n_grids FROM territory_counts WHERE code = $1",
            )
            .bind(code.as_str())
            .fetch_optional(pool)
            .await?;
            Ok(match row {
                Some(r) => counts_from_row!(&r),
                None => Counts::default(),
            })
        })
    }

    /// The subtree counts of every child of a node, by child code, in one query (zero for a
    /// child with none computed).
    pub async fn child_counts(
        &self,
        code: &TerritoryCode,
    ) -> Result<std::collections::HashMap<String, Counts>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT t.code, c.n_households, c.n_members, c.n_groups, c.n_grids \
                 FROM territories t LEFT JOIN territory_counts c ON c.code = t.code \
                 WHERE t.parent = $1",
            )
            .bind(code.as_str())
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get::<String, _>("code")?, counts_from_row!(r))))
                .collect()
        })
    }

    /// Recompute every node's subtree counts from the base tables, in one pass of grouped
    /// queries rolled up the tree in memory. Run after bulk loads and imports; single-row
    /// changes keep the counts in their own transaction.
    pub async fn recompute_counts(&self) -> Result<usize> {
        type Tally = Vec<(String, i64)>;
        let (codes, households, members): (Vec<String>, Tally, Tally) = on_read!(self, pool => {
            let codes = sqlx::query("SELECT code FROM territories")
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("code"))
                .collect::<Result<Vec<_>, _>>()?;
            let households = sqlx::query(
                "SELECT COALESCE(group_code, grid) AS t, COUNT(*) AS n FROM households GROUP BY 1",
            )
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("t")?, r.try_get("n")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
            let members = sqlx::query("SELECT territory AS t, COUNT(*) AS n FROM members GROUP BY 1")
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("t")?, r.try_get("n")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            (codes, households, members)
        });
        let mut counts: HashMap<String, Counts> = HashMap::with_capacity(codes.len());
        let mut add = |leaf: &str, f: &dyn Fn(&mut Counts)| -> Result<()> {
            for c in code_of(leaf.to_owned())?.ancestors_and_self() {
                f(counts.entry(c.to_string()).or_default());
            }
            Ok(())
        };
        for code in &codes {
            match code_of(code.clone())?.level() {
                Level::Grid => add(code, &|c| c.grids += 1)?,
                Level::Group => add(code, &|c| c.groups += 1)?,
                _ => add(code, &|_| {})?,
            }
        }
        for (t, n) in &households {
            add(t, &|c| c.households += n)?;
        }
        for (t, n) in &members {
            add(t, &|c| c.members += n)?;
        }
        let known: std::collections::HashSet<&str> = codes.iter().map(String::as_str).collect();
        let rows: Vec<Vec<Value>> = counts
            .into_iter()
            .filter(|(code, _)| known.contains(code.as_str()))
            .map(|(code, c)| {
                vec![
                    code.into(),
                    c.households.into(),
                    c.members.into(),
                    c.groups.into(),
                    c.grids.into(),
                ]
            })
            .collect();
        let n = rows.len();
        self.insert_rows_then(
            "territory_counts",
            &["code", "n_households", "n_members", "n_groups", "n_grids"],
            rows,
            " ON CONFLICT (code) DO UPDATE SET n_households = excluded.n_households, \
             n_members = excluded.n_members, n_groups = excluded.n_groups, n_grids = excluded.n_grids",
        )
        .await?;
        Ok(n)
    }
}

/// Escape `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::code_range;

    #[test]
    fn a_code_range_holds_exactly_the_codes_below_its_prefix() {
        assert_eq!(code_range("623027"), ("623027".into(), "623028".into()));
        assert_eq!(code_range("6230"), ("6230".into(), "6231".into()));
        assert_eq!(code_range("623029"), ("623029".into(), "62303".into()));
        assert_eq!(code_range("99").1, "a");
        let (lo, hi) = code_range("623029");
        for inside in ["623029", "6230291", "623029999999"] {
            assert!(lo.as_str() <= inside && inside < hi.as_str(), "{inside}");
        }
        for outside in ["623028", "6230289", "62303", "623030100"] {
            assert!(
                !(lo.as_str() <= outside && outside < hi.as_str()),
                "{outside}"
            );
        }
    }
}
