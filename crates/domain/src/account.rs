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

/// Fewest characters of a new password (NIST SP 800-63B asks for at least 8; a shared
/// centre computer and a phone on a bus both argue for more).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Most characters of a new password (Argon2 hashes anything, but a megabyte is an attack).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Why a new password is refused. Length and a block list, not composition rules: rules such
/// as "a digit and a capital" make passwords harder to remember without making them harder to
/// guess (NIST SP 800-63B §5.1.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error("a password has at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("a password has at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("the password must not contain the user name")]
    ContainsUsername,
    #[error("the password is one of the most common ones, or the demo password")]
    Common,
    #[error("the password repeats or counts through too few characters")]
    TooSimple,
}

impl PasswordProblem {
    /// A stable code for translations and the API's error envelope.
    pub fn code(self) -> &'static str {
        match self {
            PasswordProblem::TooShort => "password_too_short",
            PasswordProblem::TooLong => "password_too_long",
            PasswordProblem::ContainsUsername => "password_contains_username",
            PasswordProblem::Common => "password_common",
            PasswordProblem::TooSimple => "password_too_simple",
        }
    }
}

/// The most common passwords of Chinese and English leaks that reach ten characters, and
/// Gesang's own demo password, compared without case.
const COMMON_PASSWORDS: &[&str] = &[
    "gesang-demo",
    "gesangdemo",
    "1234567890",
    "0123456789",
    "12345678910",
    "123456789a",
    "a123456789",
    "1234567890a",
    "abc1234567",
    "abcd123456",
    "abc123456789",
    "qwertyuiop",
    "qwerty1234",
    "qwerty123456",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "zxcvbnm123",
    "asdfghjkl1",
    "password12",
    "password123",
    "password1234",
    "passw0rd123",
    "admin12345",
    "admin123456",
    "administrator",
    "iloveyou12",
    "woaini1314",
    "woaini520",
    "5201314520",
    "1314520520",
    "aa123456789",
    "a1234567890",
    "1111111111",
    "8888888888",
    "6666666666",
    "9876543210",
    "987654321a",
    "welcome123",
    "changeme123",
    "letmein123",
];

/// Check a new password for `username` against the policy. Sign-in accepts whatever was set;
/// only new passwords are checked.
pub fn check_password_policy(password: &str, username: &str) -> Result<(), PasswordProblem> {
    let chars: Vec<char> = password.chars().collect();
    if chars.len() < MIN_PASSWORD_CHARS {
        return Err(PasswordProblem::TooShort);
    }
    if chars.len() > MAX_PASSWORD_CHARS {
        return Err(PasswordProblem::TooLong);
    }
    let lower = password.to_lowercase();
    let user = username.trim().to_lowercase();
    if user.chars().count() >= 3 && lower.contains(&user) {
        return Err(PasswordProblem::ContainsUsername);
    }
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Err(PasswordProblem::Common);
    }
    let distinct: std::collections::HashSet<char> = chars.iter().copied().collect();
    // Every step the same (aaaa…, 1234…, 9876…, acegi…): a pattern, not a secret.
    let steps: std::collections::HashSet<i64> = chars
        .windows(2)
        .map(|w| i64::from(u32::from(w[1])) - i64::from(u32::from(w[0])))
        .collect();
    // A short unit said again and again (abcabcabc…, 2468024680).
    let periodic =
        (1..=chars.len() / 2).any(|p| (p..chars.len()).all(|i| chars[i] == chars[i - p]));
    if distinct.len() < 4 || steps.len() == 1 || periodic {
        return Err(PasswordProblem::TooSimple);
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
    fn new_passwords_need_length_and_must_not_be_guessable() {
        use PasswordProblem::*;
        let cases: &[(&str, &str, Result<(), PasswordProblem>)] = &[
            ("雪山下的牧场有三百头牦牛", "worker-1", Ok(())),
            ("correct horse battery", "center-623027", Ok(())),
            ("Xiahe-2026-winter", "center-623027", Ok(())),
            ("short", "x", Err(TooShort)),
            // Counted in characters, not bytes: nine Chinese characters are too few.
            ("达麦乡达麦村九个字", "x", Err(TooShort)),
            ("gesang-demo", "center-623027", Err(Common)),
            ("GESANG-DEMO", "center-623027", Err(Common)),
            ("woaini1314", "x", Err(Common)),
            ("aaaaaaaaaaaa", "x", Err(TooSimple)),
            ("abababababab", "x", Err(TooSimple)),
            ("2468024680", "x", Err(TooSimple)),
            ("abcdefghijkl", "x", Err(TooSimple)),
            ("abcdabcdabcd", "x", Err(TooSimple)),
            (
                "my center-623027 pass",
                "center-623027",
                Err(ContainsUsername),
            ),
            (
                "My Center-623027 pass",
                "CENTER-623027",
                Err(ContainsUsername),
            ),
        ];
        for (pw, user, want) in cases {
            assert_eq!(check_password_policy(pw, user), *want, "{pw:?} for {user}");
        }
        assert_eq!(
            check_password_policy(&"牦".repeat(MAX_PASSWORD_CHARS), "x"),
            Err(TooSimple)
        );
        let long: String = (0..=MAX_PASSWORD_CHARS)
            .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
            .collect();
        assert_eq!(check_password_policy(&long, "x"), Err(TooLong));
    }
}
