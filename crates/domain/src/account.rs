//! Accounts, roles and territory scope: who may see and do what, where.

use serde::{Deserialize, Serialize};

use crate::TerritoryCode;

/// A role of an account (DOMAIN.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Leader,
    CenterOperator,
    DepartmentHandler,
    GridWorker,
    HouseholdHead,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Leader,
        Role::CenterOperator,
        Role::DepartmentHandler,
        Role::GridWorker,
        Role::HouseholdHead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Leader => "leader",
            Role::CenterOperator => "center_operator",
            Role::DepartmentHandler => "department_handler",
            Role::GridWorker => "grid_worker",
            Role::HouseholdHead => "household_head",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Role::Admin => "管理员",
            Role::Leader => "领导",
            Role::CenterOperator => "综治中心受理员",
            Role::DepartmentHandler => "部门办理人",
            Role::GridWorker => "网格员",
            Role::HouseholdHead => "联户长",
        }
    }

    /// Whether this role sees personal data (phone, ID number, exact address) unmasked.
    ///
    /// Grid workers and household heads need their own households' phones to do their job;
    /// administrators maintain the data. Leaders, centre operators and handlers see it masked.
    pub fn sees_personal_data(self) -> bool {
        matches!(self, Role::Admin | Role::GridWorker | Role::HouseholdHead)
    }
}

/// An account as the rest of the system sees it once authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub account_id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// Every account is bound to one node; it sees and acts on that node and below.
    pub scope: TerritoryCode,
    /// The unit the account works in, if any (handlers, operators, grid workers).
    pub unit: Option<String>,
}

/// A request touched something outside the caller's territory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} is outside the scope {scope} of this account")]
pub struct OutOfScope {
    pub code: TerritoryCode,
    pub scope: TerritoryCode,
}

impl Principal {
    /// The one scope check: does this account reach `code`?
    pub fn check_scope(&self, code: &TerritoryCode) -> Result<(), OutOfScope> {
        if self.scope.covers(code) {
            Ok(())
        } else {
            Err(OutOfScope {
                code: code.clone(),
                scope: self.scope.clone(),
            })
        }
    }
}

/// Password rules for new passwords (login accepts whatever was set).
pub fn check_password_policy(password: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < 10 {
        return Err("密码至少10个字符 (at least 10 characters)");
    }
    if n > 256 {
        return Err("密码过长 (at most 256 characters)");
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|x| **x).count() < 2 {
        return Err("密码须包含至少两类字符 (at least two kinds of characters)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(role: Role, scope: &str) -> Principal {
        Principal {
            account_id: 1,
            username: "x".into(),
            display_name: "x".into(),
            role,
            scope: TerritoryCode::parse(scope).unwrap(),
            unit: None,
        }
    }

    #[test]
    fn scope_reaches_down_not_across() {
        let county = p(Role::CenterOperator, "623027");
        assert!(
            county
                .check_scope(&TerritoryCode::parse("623027202201").unwrap())
                .is_ok()
        );
        assert!(
            county
                .check_scope(&TerritoryCode::parse("623026").unwrap())
                .is_err()
        );
        assert!(
            county
                .check_scope(&TerritoryCode::parse("623000").unwrap())
                .is_err()
        );
    }

    #[test]
    fn demo_password_meets_policy() {
        assert!(check_password_policy("gesang-demo").is_ok());
        assert!(check_password_policy("short").is_err());
        assert!(check_password_policy("aaaaaaaaaaaa").is_err());
    }
}
