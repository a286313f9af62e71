//! Territory, households, members and pairings as spreadsheets: the columns (Chinese headers,
//! English keys accepted too), the validation of every row against what is stored, the batched
//! writes, and the streamed exports.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use domain::org::{self, OrgError, TargetKind};
use domain::people::{PairingSubject, PairingTarget};
use domain::text::{mask_address, mask_id_number, mask_phone};
use domain::{Level, TerritoryCode};
use store::Db;
use store::org::{ChangeMeta, HouseholdWrite, MemberWrite, PairingWrite, PlaceKind, Refusal};

use super::sheet::{self, Cell, Column, Format, SheetError, SheetWriter};
use super::{BATCH, ImportOptions, ImportReport, Kind, Operator, Rejection, TransferError};

/// A column of a kind's sheet: its key, its Chinese header, other headers accepted on import,
/// its export width, and whether an import needs it. Columns marked `export_only` are read by
/// people, ignored by the importer (names next to codes).
#[derive(Debug, Clone, Copy)]
pub struct ColSpec {
    pub key: &'static str,
    pub header: &'static str,
    pub width: f64,
    pub required: bool,
    pub export_only: bool,
}

const fn col(key: &'static str, header: &'static str, width: f64) -> ColSpec {
    ColSpec {
        key,
        header,
        width,
        required: false,
        export_only: false,
    }
}

const fn req(key: &'static str, header: &'static str, width: f64) -> ColSpec {
    ColSpec {
        key,
        header,
        width,
        required: true,
        export_only: false,
    }
}

const fn info(key: &'static str, header: &'static str, width: f64) -> ColSpec {
    ColSpec {
        key,
        header,
        width,
        required: false,
        export_only: true,
    }
}

pub const TERRITORY_COLUMNS: &[ColSpec] = &[
    req("code", "区划代码", 21.0),
    req("name", "名称", 30.0),
    col("name_bo", "藏文名称", 30.0),
    info("level", "层级", 8.0),
    info("parent", "上级代码", 21.0),
];

pub const HOUSEHOLD_COLUMNS: &[ColSpec] = &[
    col("id", "户编号", 10.0),
    req("grid", "网格编码", 18.0),
    col("group", "联防组编码", 21.0),
    req("head_name", "户主姓名", 12.0),
    req("address", "住址", 40.0),
    req("phone", "联系电话", 15.0),
    req("id_number", "身份证号", 22.0),
    col("resident_count", "人口数", 8.0),
    col("care", "结对关爱", 10.0),
    col("lng", "经度", 12.0),
    col("lat", "纬度", 12.0),
];

pub const MEMBER_COLUMNS: &[ColSpec] = &[
    col("id", "编号", 10.0),
    req("name", "姓名", 12.0),
    req("gender", "性别", 6.0),
    req("phone", "联系电话", 15.0),
    req("forces", "所属力量", 30.0),
    req("unit", "单位编码", 26.0),
    info("unit_name", "单位名称", 30.0),
    req("territory", "工作区划", 21.0),
    req("title", "职务", 16.0),
];

pub const PAIRING_COLUMNS: &[ColSpec] = &[
    col("id", "结对编号", 10.0),
    req("kind", "结对类型", 12.0),
    col("member", "结对人编号", 12.0),
    info("member_name", "结对人", 12.0),
    col("unit", "结对单位编码", 26.0),
    info("unit_name", "结对单位", 30.0),
    req("target_kind", "对象类型", 10.0),
    req("target", "对象编号", 21.0),
    info("target_name", "对象名称", 30.0),
    req("start_date", "开始日期", 12.0),
    col("end_date", "结束日期", 12.0),
];

/// The columns of a kind (cases have their own, in `transfer::cases`).
pub fn columns(kind: Kind) -> &'static [ColSpec] {
    match kind {
        Kind::Territory => TERRITORY_COLUMNS,
        Kind::Households => HOUSEHOLD_COLUMNS,
        Kind::Members => MEMBER_COLUMNS,
        Kind::Pairings => PAIRING_COLUMNS,
        Kind::Cases => super::cases::CASE_COLUMNS,
    }
}

pub fn sheet_columns(specs: &[ColSpec]) -> Vec<Column> {
    specs
        .iter()
        .map(|c| Column {
            header: c.header,
            width: c.width,
        })
        .collect()
}

/// Where each column of a kind is in a file.
struct Header {
    at: HashMap<&'static str, usize>,
}

impl Header {
    fn resolve(header: &[String], specs: &[ColSpec]) -> Result<Header, TransferError> {
        let mut at = HashMap::new();
        for spec in specs.iter().filter(|s| !s.export_only) {
            let found = header
                .iter()
                .position(|h| h == spec.header || h.eq_ignore_ascii_case(spec.key));
            match found {
                Some(i) => {
                    at.insert(spec.key, i);
                }
                None if spec.required => {
                    return Err(TransferError::Invalid(format!(
                        "the header has no column {} ({})",
                        spec.header, spec.key
                    )));
                }
                None => {}
            }
        }
        Ok(Header { at })
    }

    fn get<'a>(&self, cells: &'a [String], key: &str) -> &'a str {
        self.at
            .get(key)
            .and_then(|i| cells.get(*i))
            .map_or("", |s| s.trim())
    }
}

/// A refusal of one field of a row, before the file name and line are known.
struct Refused {
    field: Option<&'static str>,
    reason: &'static str,
    message: String,
}

impl From<OrgError> for Refused {
    fn from(e: OrgError) -> Refused {
        Refused {
            field: Some(e.field),
            reason: e.reason,
            message: e.message,
        }
    }
}

fn refused(field: &'static str, reason: &'static str, message: impl Into<String>) -> Refused {
    Refused {
        field: Some(field),
        reason,
        message: message.into(),
    }
}

/// What is stored, loaded once per import for the row checks.
#[derive(Default)]
struct Refs {
    levels: HashMap<String, String>,
    households: HashMap<i64, store::org::HouseholdKey>,
    /// Stored households by the blind index of their ID number (never the number itself).
    by_id_number: HashMap<String, i64>,
    vault: std::sync::Arc<store::Vault>,
    members: HashSet<i64>,
    units: HashSet<String>,
    places: HashMap<(TargetKind, i64), String>,
    pairings: HashSet<i64>,
}

impl Refs {
    async fn load(db: &Db, kind: Kind) -> Result<Refs, TransferError> {
        let mut r = Refs {
            levels: db.territory_levels().await?,
            vault: db.vault.clone(),
            ..Refs::default()
        };
        if matches!(kind, Kind::Households | Kind::Pairings) {
            for h in db.household_keys().await? {
                r.by_id_number.insert(h.id_number_bidx.clone(), h.id);
                r.households.insert(h.id, h);
            }
        }
        if matches!(kind, Kind::Members | Kind::Pairings) {
            r.members = db.member_ids().await?.into_iter().collect();
            r.units = db.all_units().await?.into_iter().map(|u| u.code).collect();
        }
        if kind == Kind::Pairings {
            let root = TerritoryCode::parse(domain::gannan::PREFECTURE_CODE)
                .map_err(|e| TransferError::Invalid(e.to_string()))?;
            for (pk, tk) in [
                (PlaceKind::Monastery, TargetKind::Monastery),
                (PlaceKind::Enterprise, TargetKind::Enterprise),
            ] {
                for p in db.places_page(pk, &root, 0, i64::MAX).await? {
                    r.places.insert((tk, p.id), p.territory);
                }
            }
            r.pairings = db.pairing_ids().await?.into_iter().collect();
        }
        Ok(r)
    }

    fn exists(&self, code: &TerritoryCode) -> bool {
        self.levels.contains_key(code.as_str())
    }
}

/// A row read into what it writes.
enum Parsed {
    /// A node, its name and Tibetan name, and whether it is new.
    Territory(TerritoryCode, String, Option<String>, bool),
    Household(HouseholdRow),
    Member(MemberWrite),
    Pairing(PairingWrite),
}

impl Parsed {
    fn is_new(&self) -> bool {
        match self {
            Parsed::Territory(.., new) => *new,
            Parsed::Household(h) => h.id.is_none(),
            Parsed::Member(m) => m.id.is_none(),
            Parsed::Pairing(p) => p.id.is_none(),
        }
    }
}

/// A household row; `None` for a personal field sent back masked (keep what is stored).
struct HouseholdRow {
    id: Option<i64>,
    grid: TerritoryCode,
    group: Option<TerritoryCode>,
    head_name: String,
    address: Option<String>,
    phone: Option<String>,
    id_number: Option<String>,
    resident_count: i64,
    care: bool,
    location: Option<(f64, f64)>,
}

fn parse_id(field: &'static str, raw: &str) -> Result<Option<i64>, Refused> {
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .map(Some)
        .ok_or_else(|| refused(field, "bad_id", format!("{raw:?} is not an id")))
}

fn in_scope(op: &Operator, field: &'static str, code: &TerritoryCode) -> Result<(), Refused> {
    if op.covers(code) {
        Ok(())
    } else {
        Err(refused(
            field,
            "out_of_scope",
            format!("{code} is outside the scope {}", op.scope),
        ))
    }
}

fn known(refs: &Refs, field: &'static str, code: &TerritoryCode) -> Result<(), Refused> {
    if refs.exists(code) {
        Ok(())
    } else {
        Err(refused(
            field,
            "unknown_code",
            format!("no territory {code}"),
        ))
    }
}

fn parse_territory(
    refs: &Refs,
    op: &Operator,
    h: &Header,
    c: &[String],
) -> Result<Parsed, Refused> {
    let code = TerritoryCode::parse(h.get(c, "code"))
        .map_err(|e| refused("code", "bad_code", e.to_string()))?;
    in_scope(op, "code", &code)?;
    let name = org::parse_text("name", h.get(c, "name"), 100)?;
    let bo = h.get(c, "name_bo");
    let name_bo = if bo.is_empty() {
        None
    } else {
        let ok = bo
            .chars()
            .all(|ch| ('\u{0F00}'..='\u{0FFF}').contains(&ch) || ch == ' ' || ch == '\u{00A0}');
        if !ok {
            return Err(refused(
                "name_bo",
                "not_tibetan",
                "a Tibetan name uses Tibetan Unicode (U+0F00–U+0FFF) only",
            ));
        }
        Some(bo.to_owned())
    };
    if !refs.exists(&code) {
        if !matches!(code.level(), Level::Grid | Level::Group) {
            return Err(refused(
                "code",
                "unknown_code",
                format!(
                    "{code} is not in the national division codes; only grids and groups are created by import"
                ),
            ));
        }
        let parent = code.parent().expect("grids and groups have parents");
        if !refs.exists(&parent) {
            return Err(refused(
                "code",
                "unknown_parent",
                format!("no parent {parent} for {code}"),
            ));
        }
    }
    let new = !refs.exists(&code);
    Ok(Parsed::Territory(code, name, name_bo, new))
}

fn parse_household(
    refs: &Refs,
    op: &Operator,
    h: &Header,
    c: &[String],
) -> Result<Parsed, Refused> {
    let id = parse_id("id", h.get(c, "id"))?;
    let stored = match id {
        Some(id) => Some(
            refs.households
                .get(&id)
                .ok_or_else(|| refused("id", "unknown_household", format!("no household {id}")))?,
        ),
        None => None,
    };
    let grid = org::parse_code_at("grid", h.get(c, "grid"), &[Level::Grid])?;
    known(refs, "grid", &grid)?;
    in_scope(op, "grid", &grid)?;
    if let Some(s) = stored {
        let old = TerritoryCode::parse(&s.grid)
            .map_err(|e| refused("grid", "bad_code", e.to_string()))?;
        in_scope(op, "id", &old)?;
    }
    let group = match h.get(c, "group") {
        "" => None,
        g => {
            let g = org::parse_code_at("group", g, &[Level::Group])?;
            known(refs, "group", &g)?;
            org::check_group_in_grid(&grid, &g)?;
            Some(g)
        }
    };
    let head_name = org::parse_text("head_name", h.get(c, "head_name"), 50)?;
    // A masked value sent back (an export for a role that does not see personal data) keeps
    // what is stored; a new household needs the real value.
    let masked = |field: &'static str, raw: &str| -> Result<bool, Refused> {
        if org::is_masked(raw) {
            if stored.is_none() {
                return Err(refused(
                    field,
                    "masked_value",
                    "a new household needs the real value, not a masked one",
                ));
            }
            return Ok(true);
        }
        Ok(false)
    };
    let address = match h.get(c, "address") {
        a if masked("address", a)? => None,
        a => Some(org::parse_text("address", a, 200)?),
    };
    let phone = match h.get(c, "phone") {
        p if masked("phone", p)? => None,
        p => Some(org::parse_phone(p)?),
    };
    let id_number = match h.get(c, "id_number") {
        n if masked("id_number", n)? => None,
        n => Some(org::parse_id_number(n)?),
    };
    if let Some(n) = &id_number
        && let Some(other) = refs
            .vault
            .blind_all("id_number", n)
            .unwrap_or_default()
            .iter()
            .find_map(|b| refs.by_id_number.get(b))
        && Some(*other) != id
    {
        return Err(refused(
            "id_number",
            "duplicate_id_number",
            format!(
                "the ID number {} is already household {other}'s",
                mask_id_number(n)
            ),
        ));
    }
    let resident_count = match h.get(c, "resident_count") {
        "" => 1,
        n => n
            .parse::<i64>()
            .ok()
            .filter(|v| (0..=100).contains(v))
            .ok_or_else(|| {
                refused(
                    "resident_count",
                    "bad_number",
                    format!("{n:?} is not a count"),
                )
            })?,
    };
    let care = org::parse_flag("care", h.get(c, "care"))?;
    let (lng, lat) = (h.get(c, "lng"), h.get(c, "lat"));
    let location = match (lng, lat) {
        ("", "") => None,
        (x, y) => {
            let p = x
                .parse::<f64>()
                .ok()
                .zip(y.parse::<f64>().ok())
                .filter(|(x, y)| (-180.0..=180.0).contains(x) && (-90.0..=90.0).contains(y));
            Some(p.ok_or_else(|| {
                refused(
                    "lng",
                    "bad_location",
                    format!("({x}, {y}) is not a WGS-84 position"),
                )
            })?)
        }
    };
    Ok(Parsed::Household(HouseholdRow {
        id,
        grid,
        group,
        head_name,
        address,
        phone,
        id_number,
        resident_count,
        care,
        location,
    }))
}

fn parse_member(refs: &Refs, op: &Operator, h: &Header, c: &[String]) -> Result<Parsed, Refused> {
    let id = parse_id("id", h.get(c, "id"))?;
    if let Some(id) = id
        && !refs.members.contains(&id)
    {
        return Err(refused("id", "unknown_member", format!("no member {id}")));
    }
    let unit = h.get(c, "unit").to_owned();
    if !refs.units.contains(&unit) {
        return Err(refused("unit", "unknown_unit", format!("no unit {unit:?}")));
    }
    let territory = TerritoryCode::parse(h.get(c, "territory"))
        .map_err(|e| refused("territory", "bad_code", e.to_string()))?;
    known(refs, "territory", &territory)?;
    in_scope(op, "territory", &territory)?;
    Ok(Parsed::Member(MemberWrite {
        id,
        name: org::parse_text("name", h.get(c, "name"), 50)?,
        gender: org::parse_gender(h.get(c, "gender"))?,
        phone: org::parse_phone(h.get(c, "phone"))?,
        forces: org::parse_forces(h.get(c, "forces"))?,
        unit,
        territory,
        title: org::parse_text("title", h.get(c, "title"), 50)?,
    }))
}

/// `区划/户/寺庙/企业` or the English names.
fn parse_target_kind(raw: &str) -> Result<TargetKind, Refused> {
    match raw {
        "区划" | "网格" | "村" | "联防组" => Ok(TargetKind::Territory),
        "户" | "家庭" => Ok(TargetKind::Household),
        "寺庙" => Ok(TargetKind::Monastery),
        "企业" => Ok(TargetKind::Enterprise),
        other => TargetKind::parse(other).ok_or_else(|| {
            refused(
                "target_kind",
                "unknown_target_kind",
                format!("{other:?}: expected 区划, 户, 寺庙 or 企业"),
            )
        }),
    }
}

pub fn target_kind_zh(kind: &str) -> &'static str {
    match kind {
        "territory" => "区划",
        "household" => "户",
        "monastery" => "寺庙",
        _ => "企业",
    }
}

fn parse_pairing(refs: &Refs, op: &Operator, h: &Header, c: &[String]) -> Result<Parsed, Refused> {
    let id = parse_id("id", h.get(c, "id"))?;
    if let Some(id) = id
        && !refs.pairings.contains(&id)
    {
        return Err(refused("id", "unknown_pairing", format!("no pairing {id}")));
    }
    let kind = org::parse_pairing_kind(h.get(c, "kind"))?;
    let shape = org::pairing_shape(kind);
    let subject = if shape.member_subject {
        let m = parse_id("member", h.get(c, "member"))?.ok_or_else(|| {
            refused(
                "member",
                "missing",
                format!("a {} pairs a member", kind.name_zh()),
            )
        })?;
        if !refs.members.contains(&m) {
            return Err(refused(
                "member",
                "unknown_member",
                format!("no member {m}"),
            ));
        }
        PairingSubject::Member(m)
    } else {
        let u = h.get(c, "unit");
        if u.is_empty() {
            return Err(refused(
                "unit",
                "missing",
                format!("a {} pairs a unit", kind.name_zh()),
            ));
        }
        if !refs.units.contains(u) {
            return Err(refused("unit", "unknown_unit", format!("no unit {u:?}")));
        }
        PairingSubject::Unit(u.to_owned())
    };
    let target_kind = parse_target_kind(h.get(c, "target_kind"))?;
    if target_kind != shape.target {
        return Err(refused(
            "target_kind",
            "wrong_target",
            format!(
                "a {} pairs with a {}",
                kind.name_zh(),
                target_kind_zh(shape.target.as_str())
            ),
        ));
    }
    let raw = h.get(c, "target");
    let (target, place) = match target_kind {
        TargetKind::Territory => {
            let code = org::parse_code_at("target", raw, shape.levels)?;
            known(refs, "target", &code)?;
            (PairingTarget::Territory(code.clone()), code)
        }
        TargetKind::Household => {
            let id = parse_id("target", raw)?
                .ok_or_else(|| refused("target", "missing", "no household id"))?;
            let hh = refs
                .households
                .get(&id)
                .ok_or_else(|| refused("target", "unknown_target", format!("no household {id}")))?;
            let grid = TerritoryCode::parse(&hh.grid)
                .map_err(|e| refused("target", "bad_code", e.to_string()))?;
            (PairingTarget::Household(id), grid)
        }
        TargetKind::Monastery | TargetKind::Enterprise => {
            let id =
                parse_id("target", raw)?.ok_or_else(|| refused("target", "missing", "no id"))?;
            let t = refs.places.get(&(target_kind, id)).ok_or_else(|| {
                refused(
                    "target",
                    "unknown_target",
                    format!("no {} {id}", target_kind.as_str()),
                )
            })?;
            let t = TerritoryCode::parse(t)
                .map_err(|e| refused("target", "bad_code", e.to_string()))?;
            let target = if target_kind == TargetKind::Monastery {
                PairingTarget::Monastery(id)
            } else {
                PairingTarget::Enterprise(id)
            };
            (target, t)
        }
    };
    in_scope(op, "target", &place)?;
    let start = org::parse_date("start_date", h.get(c, "start_date"))?;
    let end = match h.get(c, "end_date") {
        "" => None,
        e => Some(org::parse_date("end_date", e)?),
    };
    org::check_period(start, end)?;
    Ok(Parsed::Pairing(PairingWrite {
        id,
        kind,
        subject,
        target,
        start,
        end,
    }))
}

fn parse_row(
    kind: Kind,
    refs: &Refs,
    op: &Operator,
    h: &Header,
    c: &[String],
) -> Result<Parsed, Refused> {
    match kind {
        Kind::Territory => parse_territory(refs, op, h, c),
        Kind::Households => parse_household(refs, op, h, c),
        Kind::Members => parse_member(refs, op, h, c),
        Kind::Pairings => parse_pairing(refs, op, h, c),
        Kind::Cases => Err(refused(
            "kind",
            "needs_mapping",
            "cases are imported with a mapping (gesang import cases FILE --mapping FILE)",
        )),
    }
}

/// Checks that span rows: the same household twice (in two groups), the same ID number twice,
/// nodes created earlier in the file.
#[derive(Default)]
struct CrossRows {
    households: HashMap<i64, Option<String>>,
    id_numbers: HashMap<String, u64>,
    ids: HashSet<i64>,
}

impl CrossRows {
    fn check(&mut self, refs: &mut Refs, line: u64, parsed: &Parsed) -> Result<(), Refused> {
        match parsed {
            Parsed::Territory(code, ..) => {
                refs.levels
                    .entry(code.to_string())
                    .or_insert_with(|| code.level().as_str().to_owned());
            }
            Parsed::Household(h) => {
                if let Some(id) = h.id {
                    let group = h.group.as_ref().map(|g| g.to_string());
                    if let Some(prev) = self.households.insert(id, group.clone()) {
                        return Err(if prev != group {
                            refused(
                                "group",
                                "household_in_two_groups",
                                format!(
                                    "household {id} is given in {} and in {}",
                                    prev.as_deref().unwrap_or("no group"),
                                    group.as_deref().unwrap_or("no group")
                                ),
                            )
                        } else {
                            refused(
                                "id",
                                "duplicate_row",
                                format!("household {id} is given twice"),
                            )
                        });
                    }
                }
                if let Some(n) = &h.id_number
                    && let Some(first) = self.id_numbers.insert(n.clone(), line)
                {
                    return Err(refused(
                        "id_number",
                        "duplicate_id_number",
                        format!(
                            "the ID number {} is also on line {first}",
                            mask_id_number(n)
                        ),
                    ));
                }
            }
            Parsed::Member(m) => {
                if let Some(id) = m.id
                    && !self.ids.insert(id)
                {
                    return Err(refused(
                        "id",
                        "duplicate_row",
                        format!("member {id} is given twice"),
                    ));
                }
            }
            Parsed::Pairing(p) => {
                if let Some(id) = p.id
                    && !self.ids.insert(id)
                {
                    return Err(refused(
                        "id",
                        "duplicate_row",
                        format!("pairing {id} is given twice"),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn rejection(file: &str, line: u64, r: Refused) -> Rejection {
    Rejection {
        file: file.to_owned(),
        line,
        field: r.field.map(str::to_owned),
        reason: r.reason.to_owned(),
        message: r.message,
    }
}

/// Import one file of `kind` (not cases) as `op`. `name` is how the report names the file.
#[expect(
    clippy::too_many_arguments,
    reason = "the database, who, what, the file with its format and name, how, and when"
)]
pub async fn import_file(
    db: &Db,
    op: &Operator,
    kind: Kind,
    path: &Path,
    format: Option<Format>,
    name: &str,
    opts: ImportOptions,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<ImportReport, TransferError> {
    let started = Instant::now();
    let mut report = ImportReport::new(name, kind);
    let specs = columns(kind);
    let mut refs = Refs::load(db, kind).await?;

    // Pass 1: check every row, write nothing.
    let mut rows = sheet::open(path.to_owned(), format).await?;
    let header = Header::resolve(&rows.header, specs)?;
    let mut cross = CrossRows::default();
    let mut refused_lines = HashSet::new();
    while let Some(item) = rows.next().await {
        let (line, cells) = match item {
            Ok(r) => r,
            Err(SheetError::Row { line, message }) => {
                report.rows += 1;
                refused_lines.insert(line);
                report.reject(Rejection {
                    file: name.to_owned(),
                    line,
                    field: None,
                    reason: "unreadable".into(),
                    message,
                });
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        report.rows += 1;
        let checked = parse_row(kind, &refs, op, &header, &cells)
            .and_then(|p| cross.check(&mut refs, line, &p));
        if let Err(r) = checked {
            refused_lines.insert(line);
            report.reject(rejection(name, line, r));
        }
    }
    if opts.dry_run || (report.rejected_count > 0 && !opts.partial) {
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }

    // Pass 2: write the rows that passed, in batches (from the stored nodes again: a node the
    // file creates is known once its row is read, so its children find it).
    if kind == Kind::Territory {
        refs.levels = db.territory_levels().await?;
    }
    let meta = ChangeMeta {
        at,
        account: op.account,
        via: op.via,
    };
    let mut rows = sheet::open(path.to_owned(), format).await?;
    let mut batch: Vec<(u64, Parsed)> = Vec::with_capacity(BATCH);
    while let Some(item) = rows.next().await {
        let Ok((line, cells)) = item else { continue };
        if refused_lines.contains(&line) {
            continue;
        }
        match parse_row(kind, &refs, op, &header, &cells) {
            Ok(p) => {
                if let Parsed::Territory(code, ..) = &p {
                    refs.levels
                        .entry(code.to_string())
                        .or_insert_with(|| code.level().as_str().to_owned());
                }
                batch.push((line, p));
            }
            Err(r) => report.reject(rejection(name, line, r)),
        }
        if batch.len() >= BATCH && !flush(db, &meta, &mut batch, &mut report, opts).await? {
            break;
        }
    }
    flush(db, &meta, &mut batch, &mut report, opts).await?;
    report.committed = report.imported > 0 || report.rejected_count == 0;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Write a batch. A refusal at write time (the data changed since the check) refuses the row
/// it names; under all-or-nothing the import stops there (`false`).
async fn flush(
    db: &Db,
    meta: &ChangeMeta,
    batch: &mut Vec<(u64, Parsed)>,
    report: &mut ImportReport,
    opts: ImportOptions,
) -> Result<bool, TransferError> {
    if batch.is_empty() {
        return Ok(true);
    }
    let rows = std::mem::take(batch);
    match write(db, meta, &rows).await? {
        Ok(()) => {
            for (_, p) in &rows {
                if p.is_new() {
                    report.created += 1;
                } else {
                    report.updated += 1;
                }
            }
            report.imported += rows.len() as u64;
            Ok(true)
        }
        Err(_) if opts.partial && rows.len() > 1 => {
            // Find the rows at fault one by one; write the others.
            for one in rows {
                let line = one.0;
                let is_new = one.1.is_new();
                match write(db, meta, std::slice::from_ref(&one)).await? {
                    Ok(()) => {
                        report.imported += 1;
                        if is_new {
                            report.created += 1;
                        } else {
                            report.updated += 1;
                        }
                    }
                    Err(r) => report.reject(refusal_rejection(&report.file, line, r)),
                }
            }
            Ok(true)
        }
        Err(refusal) => {
            let line = rows.first().map_or(0, |r| r.0);
            report.reject(refusal_rejection(&report.file, line, refusal));
            Ok(false)
        }
    }
}

fn refusal_rejection(file: &str, line: u64, r: Refusal) -> Rejection {
    Rejection {
        file: file.to_owned(),
        line,
        field: Some(r.field.to_owned()),
        reason: r.reason.to_owned(),
        message: r.message,
    }
}

async fn write(
    db: &Db,
    meta: &ChangeMeta,
    rows: &[(u64, Parsed)],
) -> Result<Result<(), Refusal>, TransferError> {
    let Some((_, first)) = rows.first() else {
        return Ok(Ok(()));
    };
    Ok(match first {
        Parsed::Territory(..) => {
            let nodes = rows
                .iter()
                .filter_map(|(_, p)| match p {
                    Parsed::Territory(c, n, b, _) => Some((c.clone(), n.clone(), b.clone())),
                    _ => None,
                })
                .collect();
            db.save_territories(meta, nodes).await?.map(|_| ())
        }
        Parsed::Household(_) => {
            let keep: Vec<i64> = rows
                .iter()
                .filter_map(|(_, p)| match p {
                    Parsed::Household(h)
                        if h.address.is_none() || h.phone.is_none() || h.id_number.is_none() =>
                    {
                        h.id
                    }
                    _ => None,
                })
                .collect();
            let stored: HashMap<i64, store::org::HouseholdRecord> = db
                .households_by_ids(&keep)
                .await?
                .into_iter()
                .map(|h| (h.id, h))
                .collect();
            let mut writes = Vec::with_capacity(rows.len());
            for (_, p) in rows {
                let Parsed::Household(h) = p else { continue };
                let old = h.id.and_then(|id| stored.get(&id));
                let keep = |v: &Option<String>, f: fn(&store::org::HouseholdRecord) -> &String| {
                    v.clone()
                        .or_else(|| old.map(|o| f(o).clone()))
                        .unwrap_or_default()
                };
                writes.push(HouseholdWrite {
                    id: h.id,
                    grid: h.grid.clone(),
                    group: h.group.clone(),
                    head_name: h.head_name.clone(),
                    address: keep(&h.address, |o| &o.address),
                    phone: keep(&h.phone, |o| &o.phone),
                    id_number: keep(&h.id_number, |o| &o.id_number),
                    resident_count: h.resident_count,
                    care: h.care,
                    location: h.location,
                });
            }
            db.save_households(meta, writes).await?.map(|_| ())
        }
        Parsed::Member(_) => {
            let writes = rows
                .iter()
                .filter_map(|(_, p)| match p {
                    Parsed::Member(m) => Some(m.clone()),
                    _ => None,
                })
                .collect();
            db.save_members(meta, writes).await?.map(|_| ())
        }
        Parsed::Pairing(_) => {
            let writes = rows
                .iter()
                .filter_map(|(_, p)| match p {
                    Parsed::Pairing(w) => Some(w.clone()),
                    _ => None,
                })
                .collect();
            db.save_pairings(meta, writes).await?.map(|_| ())
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Export

/// Rows read per page of an export.
const PAGE: i64 = 1000;

/// Write `kind` (not cases) of the subtree of `within` to `path`. Personal data is masked for an
/// operator whose role does not see it; an unmasked export is written to the audit log.
pub async fn export(
    db: &Db,
    op: &Operator,
    kind: Kind,
    within: &TerritoryCode,
    format: Format,
    path: &Path,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<u64, TransferError> {
    if !op.covers(within) {
        return Err(TransferError::Invalid(format!(
            "{within} is outside the scope {}",
            op.scope
        )));
    }
    let specs = columns(kind);
    let mut w = SheetWriter::create(path, format, kind.name_zh(), &sheet_columns(specs))?;
    let mask = !op.sees_personal_data();
    let mut n = 0u64;
    match kind {
        Kind::Territory => {
            let mut after = String::new();
            loop {
                let page = db.territories_page(within, &after, PAGE).await?;
                for t in &page {
                    w.write_row(&[
                        t.code.to_string().into(),
                        t.name.clone().into(),
                        t.name_bo.clone().into(),
                        t.level.as_str().into(),
                        t.parent.as_ref().map(|p| p.to_string()).into(),
                    ])?;
                }
                n += page.len() as u64;
                match page.last() {
                    Some(t) if page.len() as i64 == PAGE => after = t.code.to_string(),
                    _ => break,
                }
            }
        }
        Kind::Households => {
            let mut after = 0;
            loop {
                let page = db.households_page(within, after, PAGE).await?;
                for h in &page {
                    let (address, phone, id_number) = if mask {
                        (
                            mask_address(&h.address),
                            mask_phone(&h.phone),
                            mask_id_number(&h.id_number),
                        )
                    } else {
                        (h.address.clone(), h.phone.clone(), h.id_number.clone())
                    };
                    w.write_row(&[
                        h.id.into(),
                        h.grid.clone().into(),
                        h.group.clone().into(),
                        h.head_name.clone().into(),
                        address.into(),
                        phone.into(),
                        id_number.into(),
                        h.resident_count.into(),
                        (if h.care { "是" } else { "否" }).into(),
                        h.lng.into(),
                        h.lat.into(),
                    ])?;
                }
                n += page.len() as u64;
                match page.last() {
                    Some(h) if page.len() as i64 == PAGE => after = h.id,
                    _ => break,
                }
            }
        }
        Kind::Members => {
            let mut after = 0;
            loop {
                let page = db.members_page(within, after, PAGE).await?;
                for m in &page {
                    let forces: Vec<&str> = m
                        .forces
                        .iter()
                        .filter_map(|f| domain::people::Force::parse(f))
                        .map(|f| f.name_zh())
                        .collect();
                    let gender = domain::org::parse_gender(&m.gender)
                        .map(domain::org::gender_zh)
                        .unwrap_or("");
                    w.write_row(&[
                        m.id.into(),
                        m.name.clone().into(),
                        gender.into(),
                        m.phone.clone().into(),
                        forces.join("、").into(),
                        m.unit.clone().into(),
                        m.unit_name.clone().into(),
                        m.territory.clone().into(),
                        m.title.clone().into(),
                    ])?;
                }
                n += page.len() as u64;
                match page.last() {
                    Some(m) if page.len() as i64 == PAGE => after = m.id,
                    _ => break,
                }
            }
        }
        Kind::Pairings => {
            let mut after = 0;
            loop {
                let page = db.pairings_page(within, after, PAGE).await?;
                for p in &page {
                    let kind_zh = domain::people::PairingKind::parse(&p.kind)
                        .map_or(p.kind.as_str(), |k| k.name_zh());
                    w.write_row(&[
                        p.id.into(),
                        kind_zh.into(),
                        p.member.map_or(Cell::Empty, Cell::Int),
                        p.member_name.clone().into(),
                        p.unit.clone().into(),
                        p.unit_name.clone().into(),
                        target_kind_zh(&p.target_kind).into(),
                        p.target.clone().into(),
                        p.target_name.clone().into(),
                        p.start_date.to_string().into(),
                        p.end_date.map(|d| d.to_string()).into(),
                    ])?;
                }
                n += page.len() as u64;
                match page.last() {
                    Some(p) if page.len() as i64 == PAGE => after = p.id,
                    _ => break,
                }
            }
        }
        Kind::Cases => {
            return Err(TransferError::Invalid(
                "cases are exported by transfer::cases".into(),
            ));
        }
    }
    w.finish()?;
    if !mask && kind == Kind::Households {
        db.record_audit(vec![store::org::AuditEntry {
            at,
            account: op.account,
            role: op.role.map(|r| r.as_str().to_owned()),
            action: "export_personal_data",
            subject_kind: "households",
            subject_id: within.to_string(),
            territory: Some(within.to_string()),
            detail: Some(format!(
                "{n} households, {}; via {}",
                format.extension(),
                op.via
            )),
            fields: Some("address,phone,id_number".into()),
            client: Some(op.client.clone()),
        }])
        .await?;
    }
    Ok(n)
}

/// The gap lists of the five coverages of a node: one sheet per coverage in a workbook, or one
/// CSV with the coverage in its first column.
pub async fn export_gaps(
    db: &Db,
    within: &TerritoryCode,
    day: chrono::NaiveDate,
    format: Format,
    path: &Path,
) -> Result<u64, TransferError> {
    use domain::coverage::CoverageKind;
    let columns = [
        Column {
            header: "缺口类别",
            width: 18.0,
        },
        Column {
            header: "编号",
            width: 21.0,
        },
        Column {
            header: "名称",
            width: 30.0,
        },
        Column {
            header: "所在区划",
            width: 21.0,
        },
        Column {
            header: "原因",
            width: 16.0,
        },
    ];
    let reason_zh = |r: Option<&str>| match r {
        Some("no_group") => "未编入联防组",
        Some("group_without_head") => "联防组无联户长",
        _ => "",
    };
    let mut n = 0u64;
    match format {
        Format::Csv => {
            let mut w = SheetWriter::create(path, format, "缺口", &columns)?;
            for kind in CoverageKind::ALL {
                let mut after = String::new();
                loop {
                    let page = db.coverage_gaps(within, day, kind, &after, PAGE).await?;
                    for g in &page {
                        w.write_row(&[
                            kind.name_zh().into(),
                            g.id.clone().into(),
                            g.name.clone().into(),
                            g.territory.clone().into(),
                            reason_zh(g.reason.as_deref()).into(),
                        ])?;
                    }
                    n += page.len() as u64;
                    match page.last() {
                        Some(g) if page.len() as i64 == PAGE => after = g.id.clone(),
                        _ => break,
                    }
                }
            }
            w.finish()?;
        }
        Format::Xlsx => {
            let mut book = rust_xlsxwriter::Workbook::new();
            let err = |e: rust_xlsxwriter::XlsxError| {
                TransferError::Sheet(SheetError::Write(e.to_string()))
            };
            book.set_tempdir(std::env::temp_dir()).map_err(err)?;
            let bold = rust_xlsxwriter::Format::new().set_bold();
            for kind in CoverageKind::ALL {
                let ws = book.add_worksheet_with_constant_memory().map_err(err)?;
                ws.set_name(kind.name_zh()).map_err(err)?;
                for (i, c) in columns.iter().enumerate().skip(1) {
                    let col = (i - 1) as u16;
                    ws.set_column_width(col, c.width).map_err(err)?;
                    ws.write_string_with_format(0, col, c.header, &bold)
                        .map_err(err)?;
                }
                let mut row = 1u32;
                let mut after = String::new();
                loop {
                    let page = db.coverage_gaps(within, day, kind, &after, PAGE).await?;
                    for g in &page {
                        ws.write_string(row, 0, &g.id).map_err(err)?;
                        ws.write_string(row, 1, &g.name).map_err(err)?;
                        ws.write_string(row, 2, &g.territory).map_err(err)?;
                        ws.write_string(row, 3, reason_zh(g.reason.as_deref()))
                            .map_err(err)?;
                        row += 1;
                    }
                    n += page.len() as u64;
                    match page.last() {
                        Some(g) if page.len() as i64 == PAGE => after = g.id.clone(),
                        _ => break,
                    }
                }
            }
            book.save(path).map_err(err)?;
        }
    }
    Ok(n)
}
