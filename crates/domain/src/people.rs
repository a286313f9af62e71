//! People and places that hang off the territory tree: households, joint-defence groups,
//! members of the eight forces, units, monasteries, enterprises and pairings (包联/结对).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::TerritoryCode;

/// One of the eight forces of the "8+" mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Force {
    /// 基层党建
    PartyBuilding,
    /// 文明村社
    CivilisedVillages,
    /// 和谐寺庙
    HarmoniousMonasteries,
    /// 美丽家园
    BeautifulHomes,
    /// 两代表一委员
    Deputies,
    /// 党政干部
    Cadres,
    /// 民兵队伍
    Militia,
    /// 十户联防
    JointDefence,
}

impl Force {
    pub const ALL: [Force; 8] = [
        Force::PartyBuilding,
        Force::CivilisedVillages,
        Force::HarmoniousMonasteries,
        Force::BeautifulHomes,
        Force::Deputies,
        Force::Cadres,
        Force::Militia,
        Force::JointDefence,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Force::PartyBuilding => "party_building",
            Force::CivilisedVillages => "civilised_villages",
            Force::HarmoniousMonasteries => "harmonious_monasteries",
            Force::BeautifulHomes => "beautiful_homes",
            Force::Deputies => "deputies",
            Force::Cadres => "cadres",
            Force::Militia => "militia",
            Force::JointDefence => "joint_defence",
        }
    }

    pub fn parse(s: &str) -> Option<Force> {
        Force::ALL.into_iter().find(|f| f.as_str() == s)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Force::PartyBuilding => "基层党建",
            Force::CivilisedVillages => "文明村社",
            Force::HarmoniousMonasteries => "和谐寺庙",
            Force::BeautifulHomes => "美丽家园",
            Force::Deputies => "两代表一委员",
            Force::Cadres => "党政干部",
            Force::Militia => "民兵队伍",
            Force::JointDefence => "十户联防",
        }
    }
}

/// The kind of a unit: a level's governance centre, a grid, or a member department.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    Center,
    Department,
    Grid,
}

impl UnitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Center => "center",
            UnitKind::Department => "department",
            UnitKind::Grid => "grid",
        }
    }
    pub fn parse(s: &str) -> Option<UnitKind> {
        [UnitKind::Center, UnitKind::Department, UnitKind::Grid]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A unit that cases can be sent to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// A centre's code is its territory code, a grid's its grid code, a department's
    /// `<territory code>-<slug>`.
    pub code: String,
    pub name: String,
    pub kind: UnitKind,
    pub territory: TerritoryCode,
}

/// A department that hangs off a prefecture, county or township node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepartmentKind {
    pub slug: &'static str,
    /// Name at county or prefecture level; township units get their own names.
    pub name: &'static str,
}

/// Departments at prefecture and county level (CONTRACT.md).
pub const UPPER_DEPARTMENTS: [DepartmentKind; 8] = [
    DepartmentKind {
        slug: "police",
        name: "公安局",
    },
    DepartmentKind {
        slug: "civil-affairs",
        name: "民政局",
    },
    DepartmentKind {
        slug: "natural-resources",
        name: "自然资源局",
    },
    DepartmentKind {
        slug: "housing",
        name: "住房和城乡建设局",
    },
    DepartmentKind {
        slug: "emergency",
        name: "应急管理局",
    },
    DepartmentKind {
        slug: "justice",
        name: "司法局",
    },
    DepartmentKind {
        slug: "ethnic-religious",
        name: "民族宗教事务局",
    },
    DepartmentKind {
        slug: "ecology",
        name: "生态环境局",
    },
];

/// Departments at township level: a police station and a justice office.
pub const TOWNSHIP_DEPARTMENTS: [DepartmentKind; 2] = [
    DepartmentKind {
        slug: "police",
        name: "派出所",
    },
    DepartmentKind {
        slug: "justice",
        name: "司法所",
    },
];

/// A person living in a household (personal data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resident {
    pub name: String,
    /// 户主, 配偶, 子女, 父母, …
    pub relation: String,
    pub birth_year: i32,
    pub gender: Gender,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Female,
    Male,
}

/// A household (户). Phone, ID number, address and residents are personal data.
#[derive(Debug, Clone, PartialEq)]
pub struct Household {
    pub id: i64,
    /// The joint-defence group it belongs to (18-digit code), or `None` when not yet grouped.
    pub group: Option<TerritoryCode>,
    /// The grid it lives in (15 digits).
    pub grid: TerritoryCode,
    pub head_name: String,
    pub address: String,
    pub phone: String,
    pub id_number: String,
    pub residents: Vec<Resident>,
    /// Needs care (结对关爱): elderly living alone, disabled, poor, left-behind children.
    pub care: bool,
    /// WGS-84 (lng, lat).
    pub location: Option<(f64, f64)>,
}

/// A member of the "8+" work teams.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: i64,
    pub name: String,
    pub gender: Gender,
    pub phone: String,
    pub forces: Vec<Force>,
    /// The unit the member works for (a department or a level's centre or a grid).
    pub unit: String,
    /// Where the member works: the node whose subtree counts them.
    pub territory: TerritoryCode,
    /// 职务, e.g. 网格员, 联户长, 包村干部.
    pub title: String,
}

/// A monastery (寺庙).
#[derive(Debug, Clone, PartialEq)]
pub struct Monastery {
    pub id: i64,
    pub name: String,
    pub territory: TerritoryCode,
    pub monks: i32,
}

/// An enterprise (企业).
#[derive(Debug, Clone, PartialEq)]
pub struct Enterprise {
    pub id: i64,
    pub name: String,
    pub territory: TerritoryCode,
    pub employees: i32,
}

/// The kinds of pairing (DOMAIN.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairingKind {
    /// 入格联户: member ↔ grid or group of households.
    GridHouseholds,
    /// 联寺包僧: cadre ↔ monastery.
    Monastery,
    /// 结对关爱: member ↔ a household needing care.
    Care,
    /// 企业包联: member ↔ enterprise.
    Enterprise,
    /// 支部联建: party branch ↔ party branch (unit ↔ village).
    PartyBranch,
    /// 包村: department ↔ village.
    DepartmentVillage,
}

impl PairingKind {
    pub const ALL: [PairingKind; 6] = [
        PairingKind::GridHouseholds,
        PairingKind::Monastery,
        PairingKind::Care,
        PairingKind::Enterprise,
        PairingKind::PartyBranch,
        PairingKind::DepartmentVillage,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            PairingKind::GridHouseholds => "grid_households",
            PairingKind::Monastery => "monastery",
            PairingKind::Care => "care",
            PairingKind::Enterprise => "enterprise",
            PairingKind::PartyBranch => "party_branch",
            PairingKind::DepartmentVillage => "department_village",
        }
    }
    pub fn parse(s: &str) -> Option<PairingKind> {
        PairingKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
    pub fn name_zh(self) -> &'static str {
        match self {
            PairingKind::GridHouseholds => "入格联户",
            PairingKind::Monastery => "联寺包僧",
            PairingKind::Care => "结对关爱",
            PairingKind::Enterprise => "企业包联",
            PairingKind::PartyBranch => "支部联建",
            PairingKind::DepartmentVillage => "部门包村",
        }
    }
}

/// Who is paired: a member, or a unit (department, party branch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingSubject {
    Member(i64),
    Unit(String),
}

/// What is paired with: a territory node, a household, a monastery or an enterprise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingTarget {
    Territory(TerritoryCode),
    Household(i64),
    Monastery(i64),
    Enterprise(i64),
}

/// A pairing (包联/结对) with its validity period.
#[derive(Debug, Clone, PartialEq)]
pub struct Pairing {
    pub id: i64,
    pub kind: PairingKind,
    pub subject: PairingSubject,
    pub target: PairingTarget,
    pub start: NaiveDate,
    /// `None`: still in force.
    pub end: Option<NaiveDate>,
}
