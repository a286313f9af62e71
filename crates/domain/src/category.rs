//! Case categories as data: the three classes, the 综治 taxonomy below them, and their limits.
//!
//! A category code is a dotted path whose first segment is the class (`attention`,
//! `management`, `service`) and whose parent is the code without its last segment, e.g.
//! `attention.dispute.pasture` under `attention.dispute` under `attention`. Codes are stable:
//! cases, counters and limit rules refer to them. [`default_taxonomy`] is what the demo loads;
//! administrators edit the list and it is checked again by [`Taxonomy::new`].

mod defaults;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::calendar::Limits;
use crate::people::{TOWNSHIP_DEPARTMENTS, UPPER_DEPARTMENTS};
use crate::territory::Level;

pub use defaults::{default_limits, default_taxonomy, profile};

/// The first level of the tree: the seed article's three classes of information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// 关注类: risks, disputes, public security, sensitive matters.
    Attention,
    /// 管理类: hazards, environment, order, construction.
    Management,
    /// 服务类: help with daily life, policy questions, services.
    Service,
}

impl Class {
    pub const ALL: &'static [Class] = &[Class::Attention, Class::Management, Class::Service];

    /// The stable name, also the code of the class's root category.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Attention => "attention",
            Class::Management => "management",
            Class::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Class::Attention => "关注类",
            Class::Management => "管理类",
            Class::Service => "服务类",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A category code: dot-separated segments of lowercase ASCII letters, digits and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CategoryCode(String);

impl CategoryCode {
    pub const MAX_LEN: usize = 100;

    pub fn parse(s: &str) -> Result<CategoryCode, TaxonomyError> {
        let segment_ok = |seg: &str| {
            !seg.is_empty()
                && !seg.starts_with('-')
                && !seg.ends_with('-')
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if s.len() <= Self::MAX_LEN && s.split('.').all(segment_ok) {
            Ok(CategoryCode(s.to_owned()))
        } else {
            Err(TaxonomyError::BadCode(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code without its last segment; `None` for a class root.
    pub fn parent(&self) -> Option<CategoryCode> {
        self.0
            .rsplit_once('.')
            .map(|(p, _)| CategoryCode(p.to_owned()))
    }

    /// The first segment: the class this code must belong to.
    pub fn root(&self) -> &str {
        self.0.split('.').next().unwrap_or_default()
    }

    /// 1 for a class, 2 for its children, …
    pub fn depth(&self) -> usize {
        self.0.split('.').count()
    }

    /// Whether `self` is `other` or one of its ancestors.
    pub fn covers(&self, other: &CategoryCode) -> bool {
        other.0 == self.0
            || other
                .0
                .strip_prefix(&self.0)
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

impl TryFrom<String> for CategoryCode {
    type Error = TaxonomyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CategoryCode::parse(&s)
    }
}

impl From<CategoryCode> for String {
    fn from(c: CategoryCode) -> Self {
        c.0
    }
}

impl fmt::Display for CategoryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One node of the category tree, with what routing, clocks and publication need to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub code: CategoryCode,
    /// Chinese name (shown everywhere by default).
    pub name: String,
    pub name_en: String,
    /// Tibetan name, in Unicode Tibetan (U+0F00–U+0FFF) only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_bo: Option<String>,
    pub class: Class,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<CategoryCode>,
    /// The level whose centre handles such a case first (村 for disputes: 小事不出村).
    pub default_level: Level,
    /// The member unit (a department slug of `people::UPPER_DEPARTMENTS` or
    /// `people::TOWNSHIP_DEPARTMENTS`) such cases are usually dispatched to, found at the default
    /// level or the nearest level above that has it; `None` when the centre decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_department: Option<String>,
    /// The limit profile naming this category's rules in [`Limits`].
    pub limit_profile: String,
    /// Cases carry a mediation record (矛盾纠纷).
    pub is_dispute: bool,
    /// Cases may be shown on public pages (a map of reported potholes, not a family quarrel).
    pub public: bool,
    /// Sensitive matters: never public, reported in the daily analysis, restricted lists.
    pub sensitive: bool,
}

/// A node of the tree as `GET /api/v1/categories` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryTree {
    pub code: CategoryCode,
    pub name: String,
    pub name_en: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_bo: Option<String>,
    pub class: Class,
    pub is_dispute: bool,
    pub children: Vec<CategoryTree>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxonomyError {
    #[error("not a category code: {0:?}")]
    BadCode(String),
    #[error("category {0} appears twice")]
    Duplicate(CategoryCode),
    #[error("category {0}: the parent must be the code without its last segment")]
    BadParent(CategoryCode),
    #[error("category {0}: its parent is not in the list")]
    MissingParent(CategoryCode),
    #[error("category {0}: the class must be the one named by the code's first segment")]
    WrongClass(CategoryCode),
    #[error("the root of class {0} is missing")]
    MissingRoot(Class),
    #[error("category {0}: unknown department {1:?}")]
    UnknownDepartment(CategoryCode, String),
    #[error("category {0}: a Tibetan name must use Tibetan script (U+0F00–U+0FFF) only")]
    NotTibetan(CategoryCode),
    #[error("category {0}: a name may not be empty")]
    EmptyName(CategoryCode),
    #[error("category {0}: a sensitive category cannot be public")]
    SensitivePublic(CategoryCode),
    #[error("category {0}: limit profile {1:?} has no rule in the limit table")]
    UnknownProfile(CategoryCode, String),
}

/// Whether `s` is non-empty Tibetan script: every character in U+0F00–U+0FFF.
pub fn is_tibetan(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| ('\u{0F00}'..='\u{0FFF}').contains(&c))
}

/// Whether `slug` names a department of CONTRACT.md's unit list.
pub fn is_department(slug: &str) -> bool {
    UPPER_DEPARTMENTS
        .iter()
        .chain(TOWNSHIP_DEPARTMENTS.iter())
        .any(|d| d.slug == slug)
}

/// A checked category tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Category>", into = "Vec<Category>")]
pub struct Taxonomy {
    categories: Vec<Category>,
    index: BTreeMap<CategoryCode, usize>,
}

impl TryFrom<Vec<Category>> for Taxonomy {
    type Error = TaxonomyError;
    fn try_from(v: Vec<Category>) -> Result<Self, Self::Error> {
        Taxonomy::new(v)
    }
}

impl From<Taxonomy> for Vec<Category> {
    fn from(t: Taxonomy) -> Self {
        t.categories
    }
}

impl Taxonomy {
    /// Checks the list: unique codes, each parent present and equal to the code's prefix, each
    /// class equal to the root's, the three roots present, known departments, Tibetan names in
    /// Tibetan script, non-empty names, and no sensitive category public. Order is kept.
    pub fn new(categories: Vec<Category>) -> Result<Taxonomy, TaxonomyError> {
        let mut index = BTreeMap::new();
        for (i, c) in categories.iter().enumerate() {
            if index.insert(c.code.clone(), i).is_some() {
                return Err(TaxonomyError::Duplicate(c.code.clone()));
            }
        }
        for c in &categories {
            let code = || c.code.clone();
            if c.parent != c.code.parent() {
                return Err(TaxonomyError::BadParent(code()));
            }
            if let Some(p) = &c.parent
                && !index.contains_key(p)
            {
                return Err(TaxonomyError::MissingParent(code()));
            }
            if c.class.as_str() != c.code.root() {
                return Err(TaxonomyError::WrongClass(code()));
            }
            if let Some(d) = &c.default_department
                && !is_department(d)
            {
                return Err(TaxonomyError::UnknownDepartment(code(), d.clone()));
            }
            if c.name_bo.as_deref().is_some_and(|b| !is_tibetan(b)) {
                return Err(TaxonomyError::NotTibetan(code()));
            }
            if c.name.trim().is_empty()
                || c.name_en.trim().is_empty()
                || c.limit_profile.trim().is_empty()
            {
                return Err(TaxonomyError::EmptyName(code()));
            }
            if c.sensitive && c.public {
                return Err(TaxonomyError::SensitivePublic(code()));
            }
        }
        for class in Class::ALL {
            if !index.contains_key(&CategoryCode(class.as_str().to_owned())) {
                return Err(TaxonomyError::MissingRoot(*class));
            }
        }
        Ok(Taxonomy { categories, index })
    }

    /// Also checks that every category's limit profile is named by some rule of `limits`.
    pub fn check_limits(&self, limits: &Limits) -> Result<(), TaxonomyError> {
        let profiles = limits.profiles();
        match self
            .categories
            .iter()
            .find(|c| !profiles.contains(c.limit_profile.as_str()))
        {
            Some(c) => Err(TaxonomyError::UnknownProfile(
                c.code.clone(),
                c.limit_profile.clone(),
            )),
            None => Ok(()),
        }
    }

    pub fn all(&self) -> &[Category] {
        &self.categories
    }

    pub fn len(&self) -> usize {
        self.categories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.categories.is_empty()
    }

    pub fn get(&self, code: &str) -> Option<&Category> {
        let code = CategoryCode::parse(code).ok()?;
        self.index.get(&code).map(|i| &self.categories[*i])
    }

    pub fn children<'a>(&'a self, code: &'a CategoryCode) -> impl Iterator<Item = &'a Category> {
        self.categories
            .iter()
            .filter(move |c| c.parent.as_ref() == Some(code))
    }

    pub fn is_leaf(&self, code: &CategoryCode) -> bool {
        self.children(code).next().is_none()
    }

    /// The categories a case is normally filed under (no children).
    pub fn leaves(&self) -> impl Iterator<Item = &Category> {
        let parents: BTreeSet<&CategoryCode> = self
            .categories
            .iter()
            .filter_map(|c| c.parent.as_ref())
            .collect();
        self.categories
            .iter()
            .filter(move |c| !parents.contains(&c.code))
    }

    /// The category and its ancestors, nearest first.
    pub fn ancestry<'a>(&'a self, code: &CategoryCode) -> impl Iterator<Item = &'a Category> {
        std::iter::successors(Some(code.clone()), |c| c.parent())
            .filter_map(|c| self.index.get(&c).map(|i| &self.categories[*i]))
    }

    /// The tree in list order, roots first, as the API serves it.
    pub fn tree(&self) -> Vec<CategoryTree> {
        let mut children: BTreeMap<&CategoryCode, Vec<&Category>> = BTreeMap::new();
        for c in &self.categories {
            if let Some(p) = &c.parent {
                children.entry(p).or_default().push(c);
            }
        }
        fn build(c: &Category, children: &BTreeMap<&CategoryCode, Vec<&Category>>) -> CategoryTree {
            CategoryTree {
                code: c.code.clone(),
                name: c.name.clone(),
                name_en: c.name_en.clone(),
                name_bo: c.name_bo.clone(),
                class: c.class,
                is_dispute: c.is_dispute,
                children: children
                    .get(&c.code)
                    .map(|v| v.iter().map(|k| build(k, children)).collect())
                    .unwrap_or_default(),
            }
        }
        self.categories
            .iter()
            .filter(|c| c.parent.is_none())
            .map(|c| build(c, &children))
            .collect()
    }
}

#[cfg(test)]
mod tests;
