//! The rules of the "8+" organisation data that administrators keep: what a valid resident ID,
//! phone number, household, member, pairing and joint-defence group look like. Every door (the
//! management pages, the API, the spreadsheet import) parses through these, so a row refused by
//! an import is refused for the same reason as the same value typed into a form.

use chrono::NaiveDate;

use crate::TerritoryCode;
use crate::people::{Force, Gender, PairingKind};
use crate::territory::Level;

/// Why a value of the organisation data is refused. The `field` names the column or form input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct OrgError {
    pub field: &'static str,
    /// A stable snake_case reason (`bad_check_digit`, `unknown_code`, …), for reports.
    pub reason: &'static str,
    pub message: String,
}

impl OrgError {
    pub fn new(field: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        OrgError {
            field,
            reason,
            message: message.into(),
        }
    }
}

/// The check character of an 18-character resident ID (GB 11643-1999, ISO 7064 MOD 11-2) from
/// its first 17 digits.
pub fn id_check_char(body: &str) -> Option<char> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    if body.len() != 17 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(CHECK[(sum % 11) as usize])
}

/// Parse a resident ID (居民身份证号码): 18 characters, 17 digits and a check character (a
/// lowercase `x` is accepted and stored upper-case), a real birth date, the right check digit.
pub fn parse_id_number(raw: &str) -> Result<String, OrgError> {
    let id = raw.trim().to_ascii_uppercase();
    let field = "id_number";
    if id.chars().count() != 18 {
        return Err(OrgError::new(
            field,
            "bad_id_number",
            format!(
                "a resident ID has 18 characters, not {}",
                id.chars().count()
            ),
        ));
    }
    // Found by the fuzz target `personal_fields`: 18 characters of which some are not ASCII
    // made the byte split below panic.
    if !id.is_ascii() {
        return Err(OrgError::new(
            field,
            "bad_id_number",
            "a resident ID is digits and a final X",
        ));
    }
    let (body, last) = id.split_at(17);
    let Some(expected) = id_check_char(body) else {
        return Err(OrgError::new(
            field,
            "bad_id_number",
            "the first 17 characters of a resident ID are digits",
        ));
    };
    if NaiveDate::parse_from_str(&body[6..14], "%Y%m%d").is_err() {
        return Err(OrgError::new(
            field,
            "bad_id_number",
            // The digits are personal data: never echoed in a message.
            "characters 7 to 14 of a resident ID are a birth date (YYYYMMDD); these are not",
        ));
    }
    if !last.starts_with(expected) {
        return Err(OrgError::new(
            field,
            "bad_check_digit",
            "the check character (the 18th) does not match the first 17",
        ));
    }
    Ok(id)
}

/// Parse a phone number: a mobile number (11 digits starting with 1) or a landline with its area
/// code (`0941-8212345`). Spaces, dashes and a leading `+86` are tolerated and dropped for
/// mobiles.
pub fn parse_phone(raw: &str) -> Result<String, OrgError> {
    let s: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{3000}'))
        .collect();
    let s = s.strip_prefix("+86").unwrap_or(&s).to_owned();
    let digits: String = s.chars().filter(|c| *c != '-').collect();
    let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if all_digits && digits.len() == 11 && digits.starts_with('1') {
        return Ok(digits);
    }
    if all_digits && digits.starts_with('0') && (10..=12).contains(&digits.len()) {
        return Ok(s);
    }
    Err(OrgError::new(
        "phone",
        "bad_phone",
        // The value is personal data: never echoed in a message.
        format!(
            "a phone number is a mobile number (11 digits) or a landline with its area code; \
             this one has {} characters",
            raw.chars().count()
        ),
    ))
}

/// A required text of at most `max` characters, trimmed.
pub fn parse_text(field: &'static str, raw: &str, max: usize) -> Result<String, OrgError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(OrgError::new(field, "missing", "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(OrgError::new(
            field,
            "too_long",
            format!("at most {max} characters"),
        ));
    }
    Ok(t.to_owned())
}

/// A territory code of the given level.
pub fn parse_code_at(
    field: &'static str,
    raw: &str,
    levels: &[Level],
) -> Result<TerritoryCode, OrgError> {
    let code = TerritoryCode::parse(raw)
        .map_err(|e| OrgError::new(field, "bad_code", format!("{raw:?}: {e}")))?;
    if !levels.contains(&code.level()) {
        let names: Vec<&str> = levels.iter().map(|l| l.as_str()).collect();
        return Err(OrgError::new(
            field,
            "wrong_level",
            format!(
                "{code} is a {}, expected {}",
                code.level(),
                names.join(" or ")
            ),
        ));
    }
    Ok(code)
}

/// `是/否`, `yes/no`, `true/false`, `1/0`, `y/n`, `on` (a checked box), empty = no.
pub fn parse_flag(field: &'static str, raw: &str) -> Result<bool, OrgError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "" | "否" | "no" | "n" | "false" | "0" | "off" => Ok(false),
        "是" | "yes" | "y" | "true" | "1" | "on" | "√" | "✓" => Ok(true),
        other => Err(OrgError::new(
            field,
            "bad_flag",
            format!("{other:?}: expected 是 or 否"),
        )),
    }
}

/// A date as `YYYY-MM-DD` (also `YYYY/MM/DD` and `YYYY.MM.DD`, as spreadsheets write them).
pub fn parse_date(field: &'static str, raw: &str) -> Result<NaiveDate, OrgError> {
    let t = raw.trim();
    for f in ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日"] {
        if let Ok(d) = NaiveDate::parse_from_str(t, f) {
            return Ok(d);
        }
    }
    Err(OrgError::new(
        field,
        "bad_date",
        format!("{t:?} is not a date (YYYY-MM-DD)"),
    ))
}

/// `female`/`male`, `女`/`男`.
pub fn parse_gender(raw: &str) -> Result<Gender, OrgError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "female" | "女" | "f" => Ok(Gender::Female),
        "male" | "男" | "m" => Ok(Gender::Male),
        other => Err(OrgError::new(
            "gender",
            "bad_gender",
            format!("{other:?}: expected 男 or 女"),
        )),
    }
}

/// The Chinese name of a gender.
pub fn gender_zh(g: Gender) -> &'static str {
    match g {
        Gender::Female => "女",
        Gender::Male => "男",
    }
}

/// Forces as a list of codes or Chinese names separated by `、`, `,`, `，`, `;` or spaces. At
/// least one; each at most once, in the order of [`Force::ALL`].
pub fn parse_forces(raw: &str) -> Result<Vec<Force>, OrgError> {
    let mut out = Vec::new();
    for part in raw
        .split(['、', ',', '，', ';', '；', ' ', '|'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let f = Force::parse(part)
            .or_else(|| Force::ALL.into_iter().find(|f| f.name_zh() == part))
            .ok_or_else(|| {
                OrgError::new(
                    "forces",
                    "unknown_force",
                    format!("{part:?} is not one of the eight forces"),
                )
            })?;
        if !out.contains(&f) {
            out.push(f);
        }
    }
    if out.is_empty() {
        return Err(OrgError::new(
            "forces",
            "missing",
            "a member belongs to at least one of the eight forces",
        ));
    }
    out.sort_by_key(|f| Force::ALL.iter().position(|g| g == f));
    Ok(out)
}

/// A pairing kind by its code or its Chinese name.
pub fn parse_pairing_kind(raw: &str) -> Result<PairingKind, OrgError> {
    let t = raw.trim();
    PairingKind::parse(t)
        .or_else(|| PairingKind::ALL.into_iter().find(|k| k.name_zh() == t))
        .ok_or_else(|| {
            OrgError::new(
                "kind",
                "unknown_kind",
                format!("{t:?} is not a kind of pairing"),
            )
        })
}

/// Who a kind of pairing pairs, and with what (DOMAIN.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairingShape {
    /// A member (true) or a unit (false) is paired.
    pub member_subject: bool,
    /// The kind of thing paired with.
    pub target: TargetKind,
    /// For territory targets: the levels allowed.
    pub levels: &'static [Level],
}

/// The kind of thing a pairing is with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    Territory,
    Household,
    Monastery,
    Enterprise,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Territory => "territory",
            TargetKind::Household => "household",
            TargetKind::Monastery => "monastery",
            TargetKind::Enterprise => "enterprise",
        }
    }
    pub fn parse(s: &str) -> Option<TargetKind> {
        [
            TargetKind::Territory,
            TargetKind::Household,
            TargetKind::Monastery,
            TargetKind::Enterprise,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// The shape of each kind: 入格联户 member ↔ grid or group; 联寺包僧 member ↔ monastery; 结对关爱
/// member ↔ household; 企业包联 member ↔ enterprise; 支部联建 and 部门包村 unit ↔ village.
pub fn pairing_shape(kind: PairingKind) -> PairingShape {
    let shape = |member_subject, target, levels| PairingShape {
        member_subject,
        target,
        levels,
    };
    match kind {
        PairingKind::GridHouseholds => shape(
            true,
            TargetKind::Territory,
            &[Level::Grid, Level::Group][..],
        ),
        PairingKind::Monastery => shape(true, TargetKind::Monastery, &[]),
        PairingKind::Care => shape(true, TargetKind::Household, &[]),
        PairingKind::Enterprise => shape(true, TargetKind::Enterprise, &[]),
        PairingKind::PartyBranch => shape(false, TargetKind::Territory, &[Level::Village]),
        PairingKind::DepartmentVillage => shape(false, TargetKind::Territory, &[Level::Village]),
    }
}

/// A pairing's period: it starts on `start` and, when it has an end, ends on or after it.
pub fn check_period(start: NaiveDate, end: Option<NaiveDate>) -> Result<(), OrgError> {
    match end {
        Some(e) if e < start => Err(OrgError::new(
            "end_date",
            "end_before_start",
            format!("the pairing ends ({e}) before it starts ({start})"),
        )),
        _ => Ok(()),
    }
}

/// Whether a pairing with this period is in force on `day`.
pub fn in_force(start: NaiveDate, end: Option<NaiveDate>, day: NaiveDate) -> bool {
    start <= day && end.is_none_or(|e| day <= e)
}

/// A household's joint-defence group must lie in its grid (the group code extends the grid code).
pub fn check_group_in_grid(grid: &TerritoryCode, group: &TerritoryCode) -> Result<(), OrgError> {
    if group.parent().as_ref() == Some(grid) {
        Ok(())
    } else {
        Err(OrgError::new(
            "group",
            "group_outside_grid",
            format!("the group {group} is not a group of the grid {grid}"),
        ))
    }
}

/// A masked value (`138****5678`) sent back unchanged: keep what is stored.
pub fn is_masked(raw: &str) -> bool {
    raw.contains('*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_of_eighteen_non_ascii_characters_are_refused_not_a_panic() {
        // Found by the fuzz target `personal_fields` (issue 9).
        for raw in [
            "夏河县拉卜楞镇1号夏河县拉卜楞镇1号",
            "62302719800101001é",
            "６２３０２７１９８００１０１００１X",
        ] {
            let e = parse_id_number(raw).unwrap_err();
            assert_eq!(e.reason, "bad_id_number", "{raw}");
        }
        let e = parse_phone("１３９００００００００").unwrap_err();
        assert!(!e.message.contains("１３９"), "{}", e.message);
    }

    #[test]
    fn id_numbers_need_a_right_check_character_and_a_real_birth_date() {
        // The standard's own example (GB 11643-1999, appendix).
        assert_eq!(id_check_char("11010519491231002"), Some('X'));
        assert_eq!(
            parse_id_number(" 11010519491231002x ").unwrap(),
            "11010519491231002X"
        );
        let e = parse_id_number("110105194912310021").unwrap_err();
        assert_eq!(e.reason, "bad_check_digit");
        assert_eq!(
            parse_id_number("11010519491331002X").unwrap_err().reason,
            "bad_id_number"
        );
        assert_eq!(parse_id_number("1234").unwrap_err().reason, "bad_id_number");
        assert_eq!(
            parse_id_number("1101051949123100A2").unwrap_err().reason,
            "bad_id_number"
        );
    }

    #[test]
    fn phones_are_mobiles_or_landlines() {
        assert_eq!(parse_phone("138 1234 5678").unwrap(), "13812345678");
        assert_eq!(parse_phone("+8613812345678").unwrap(), "13812345678");
        assert_eq!(parse_phone("0941-8212345").unwrap(), "0941-8212345");
        assert!(parse_phone("12345").is_err());
        assert!(parse_phone("23812345678").is_err());
        assert!(parse_phone("").is_err());
    }

    #[test]
    fn forces_by_code_or_name_once_each_in_order() {
        assert_eq!(
            parse_forces("民兵队伍、cadres，民兵队伍").unwrap(),
            vec![Force::Cadres, Force::Militia]
        );
        assert_eq!(parse_forces("").unwrap_err().reason, "missing");
        assert_eq!(parse_forces("警察").unwrap_err().reason, "unknown_force");
    }

    #[test]
    fn flags_dates_and_kinds_read_as_people_write_them() {
        assert!(parse_flag("care", "是").unwrap());
        assert!(!parse_flag("care", "").unwrap());
        assert!(parse_flag("care", "maybe").is_err());
        let d = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
        for s in ["2025-03-01", "2025/3/1", "2025年3月1日"] {
            assert_eq!(parse_date("start_date", s).unwrap(), d, "{s}");
        }
        assert!(parse_date("start_date", "01/03/2025").is_err());
        assert_eq!(
            parse_pairing_kind("联寺包僧").unwrap(),
            PairingKind::Monastery
        );
        assert_eq!(parse_pairing_kind("care").unwrap(), PairingKind::Care);
        assert!(parse_pairing_kind("包干").is_err());
    }

    #[test]
    fn periods_and_groups() {
        let d = |m| NaiveDate::from_ymd_opt(2025, m, 1).unwrap();
        assert!(check_period(d(1), Some(d(2))).is_ok());
        assert!(check_period(d(1), Some(d(1))).is_ok());
        assert_eq!(
            check_period(d(2), Some(d(1))).unwrap_err().reason,
            "end_before_start"
        );
        assert!(in_force(d(1), None, d(6)));
        assert!(in_force(d(1), Some(d(6)), d(6)));
        assert!(!in_force(d(1), Some(d(5)), d(6)));
        assert!(!in_force(d(7), None, d(6)));
        let grid = TerritoryCode::parse("623027202201001").unwrap();
        let own = TerritoryCode::parse("623027202201001004").unwrap();
        let other = TerritoryCode::parse("623027202201002004").unwrap();
        assert!(check_group_in_grid(&grid, &own).is_ok());
        assert_eq!(
            check_group_in_grid(&grid, &other).unwrap_err().reason,
            "group_outside_grid"
        );
    }

    #[test]
    fn every_kind_has_a_shape_that_matches_the_domain() {
        for k in PairingKind::ALL {
            let s = pairing_shape(k);
            assert_eq!(s.target == TargetKind::Territory, !s.levels.is_empty());
        }
        assert!(!pairing_shape(PairingKind::DepartmentVillage).member_subject);
        assert_eq!(
            pairing_shape(PairingKind::Care).target,
            TargetKind::Household
        );
    }
}
