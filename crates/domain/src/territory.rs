//! Territory codes, levels and nodes: the tree prefecture → county → township → village → grid → group.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A level of the territory tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Prefecture,
    County,
    Township,
    Village,
    Grid,
    Group,
}

impl Level {
    pub const ALL: [Level; 6] = [
        Level::Prefecture,
        Level::County,
        Level::Township,
        Level::Village,
        Level::Grid,
        Level::Group,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Prefecture => "prefecture",
            Level::County => "county",
            Level::Township => "township",
            Level::Village => "village",
            Level::Grid => "grid",
            Level::Group => "group",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// Levels that have a governance centre (州, 县, 乡, 村).
    pub fn has_centre(self) -> bool {
        matches!(
            self,
            Level::Prefecture | Level::County | Level::Township | Level::Village
        )
    }

    /// The level directly below, if any.
    pub fn child(self) -> Option<Level> {
        match self {
            Level::Prefecture => Some(Level::County),
            Level::County => Some(Level::Township),
            Level::Township => Some(Level::Village),
            Level::Village => Some(Level::Grid),
            Level::Grid => Some(Level::Group),
            Level::Group => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a territory code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("a territory code is made of digits only")]
    NotDigits,
    #[error("a territory code has 6, 9, 12, 15 or 18 digits, not {0}")]
    BadLength(usize),
}

/// A national statistical division code extended by two levels:
/// prefecture `623000`, county `623027`, township `623027202` (9), village `623027202201` (12),
/// grid = village + 3 digits (15), joint-defence group = grid + 3 digits (18).
///
/// Codes are hierarchical by prefix, which makes "this node and everything below it" a prefix
/// match (`subtree_prefix`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TerritoryCode(String);

impl TerritoryCode {
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodeError::NotDigits);
        }
        match s.len() {
            6 | 9 | 12 | 15 | 18 => Ok(Self(s.to_owned())),
            n => Err(CodeError::BadLength(n)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn level(&self) -> Level {
        match self.0.len() {
            6 if self.0.ends_with("00") => Level::Prefecture,
            6 => Level::County,
            9 => Level::Township,
            12 => Level::Village,
            15 => Level::Grid,
            _ => Level::Group,
        }
    }

    /// The prefix shared by this node and every node below it.
    pub fn subtree_prefix(&self) -> &str {
        match self.level() {
            Level::Prefecture => &self.0[..4],
            _ => &self.0,
        }
    }

    /// Whether `other` is this node or lies below it.
    pub fn covers(&self, other: &TerritoryCode) -> bool {
        other.0.starts_with(self.subtree_prefix())
            && (self.level() != Level::Prefecture || other.level() >= Level::Prefecture)
    }

    /// The parent node's code, derived from the code itself.
    pub fn parent(&self) -> Option<TerritoryCode> {
        match self.level() {
            Level::Prefecture => None,
            Level::County => Some(Self(format!("{}00", &self.0[..4]))),
            _ => Some(Self(self.0[..self.0.len() - 3].to_owned())),
        }
    }

    /// This code and all its ancestors, from the node itself up to the prefecture.
    pub fn ancestors_and_self(&self) -> Vec<TerritoryCode> {
        let mut out = vec![self.clone()];
        let mut cur = self.clone();
        while let Some(p) = cur.parent() {
            out.push(p.clone());
            cur = p;
        }
        out
    }

    /// The code of a child with a 3-digit sequence number (grids and groups).
    pub fn child_seq(&self, seq: u32) -> TerritoryCode {
        Self(format!("{}{:03}", self.0, seq))
    }
}

impl fmt::Display for TerritoryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TerritoryCode {
    type Error = CodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<TerritoryCode> for String {
    fn from(c: TerritoryCode) -> String {
        c.0
    }
}

/// Where a node's outline comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeometrySource {
    /// Published outline (DataV, GCJ-02), converted to WGS-84 on load.
    Official,
    /// Generated deterministically by Gesang: no public outline exists.
    Generated,
}

impl GeometrySource {
    pub fn as_str(self) -> &'static str {
        match self {
            GeometrySource::Official => "official",
            GeometrySource::Generated => "generated",
        }
    }
}

/// A node of the territory tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub code: TerritoryCode,
    pub name: String,
    /// Tibetan name (Unicode U+0F00–U+0FFF) where known.
    pub name_bo: Option<String>,
    /// Outline in WGS-84 (lng, lat).
    pub geometry: Option<geo::MultiPolygon<f64>>,
    pub geometry_source: Option<GeometrySource>,
}

impl Node {
    pub fn level(&self) -> Level {
        self.code.level()
    }
    pub fn parent(&self) -> Option<TerritoryCode> {
        self.code.parent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> TerritoryCode {
        TerritoryCode::parse(s).unwrap()
    }

    #[test]
    fn levels_follow_length() {
        assert_eq!(c("623000").level(), Level::Prefecture);
        assert_eq!(c("623027").level(), Level::County);
        assert_eq!(c("623027202").level(), Level::Township);
        assert_eq!(c("623027202201").level(), Level::Village);
        assert_eq!(c("623027202201001").level(), Level::Grid);
        assert_eq!(c("623027202201001004").level(), Level::Group);
    }

    #[test]
    fn parents_chain_up_to_prefecture() {
        let g = c("623027202201001004");
        let chain: Vec<String> = g
            .ancestors_and_self()
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            chain,
            [
                "623027202201001004",
                "623027202201001",
                "623027202201",
                "623027202",
                "623027",
                "623000"
            ]
        );
    }

    #[test]
    fn covers_is_prefix_on_the_tree() {
        assert!(c("623000").covers(&c("623027202201")));
        assert!(c("623027").covers(&c("623027")));
        assert!(c("623027").covers(&c("623027202201001")));
        assert!(!c("623027").covers(&c("623026")));
        assert!(!c("623027202").covers(&c("623027")));
        assert!(!c("623027202201").covers(&c("623027202202001")));
        assert!(!c("623000").covers(&c("620000")));
    }

    #[test]
    fn bad_codes_are_refused() {
        assert_eq!(TerritoryCode::parse("62a000"), Err(CodeError::NotDigits));
        assert_eq!(TerritoryCode::parse("6230"), Err(CodeError::BadLength(4)));
        assert_eq!(TerritoryCode::parse(""), Err(CodeError::NotDigits));
    }
}
