//! The default taxonomy after the 综治 event classification, with Gannan's local additions, and
//! the default limit table.
//!
//! Tibetan names are given only where the term is common and unambiguous (རྩོད་གཞི dispute,
//! རྩྭ་ཐང pasture, དབྱར་རྩྭ་དགུན་འབུ caterpillar fungus, དགོན་པ monastery, …); the rest are left for a
//! translator to add through the administration pages. They should be reviewed by a native
//! speaker before they face residents.

use super::{Category, CategoryCode, Class};
use crate::calendar::{LimitRule, Limits, Step, TimeLimit, Urgency};
use crate::territory::Level;

/// The limit profiles of the default taxonomy.
pub mod profile {
    /// General matters: the level decides (village 3, township 5, county 10, prefecture 15
    /// working days to handle).
    pub const STANDARD: &str = "standard";
    /// Help with daily life (民生服务, 民事村办).
    pub const SERVICE: &str = "service";
    /// Policy questions: answered within 2 working days.
    pub const CONSULT: &str = "consult";
    /// Disputes (矛盾纠纷): mediation within 20 working days (about the month of 人民调解 practice).
    pub const DISPUTE: &str = "dispute";
    /// Safety hazards: 3 working days; when urgent, around the clock (24 h to handle).
    pub const HAZARD: &str = "hazard";
    /// Public security: as hazards, the police working around the clock when urgent.
    pub const SECURITY: &str = "security";
    /// Sensitive matters (religion, special populations): accepted within the hour.
    pub const SENSITIVE: &str = "sensitive";
    /// Caterpillar-fungus season: the harvest lasts weeks, so matters are handled in days.
    pub const CORDYCEPS: &str = "cordyceps";

    pub const ALL: &[&str] = &[
        STANDARD, SERVICE, CONSULT, DISPUTE, HAZARD, SECURITY, SENSITIVE, CORDYCEPS,
    ];
}

use profile as p;

/// How a row may be shown and routed.
#[derive(Clone, Copy)]
struct Flags {
    dispute: bool,
    public: bool,
    sensitive: bool,
}

const PRIVATE: Flags = Flags {
    dispute: false,
    public: false,
    sensitive: false,
};
const PUBLIC: Flags = Flags {
    dispute: false,
    public: true,
    sensitive: false,
};
const DISPUTE: Flags = Flags {
    dispute: true,
    public: false,
    sensitive: false,
};
const SENSITIVE: Flags = Flags {
    dispute: false,
    public: false,
    sensitive: true,
};
const SENSITIVE_DISPUTE: Flags = Flags {
    dispute: true,
    public: false,
    sensitive: true,
};

type Row = (
    &'static str,         // code
    &'static str,         // 中文
    &'static str,         // English
    Option<&'static str>, // བོད་ཡིག
    Level,
    Option<&'static str>, // department slug
    &'static str,         // limit profile
    Flags,
);

use Level::{County, Township, Village};

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // 关注类 ---------------------------------------------------------------------------------
    ("attention", "关注类", "Attention", Some("དོ་སྣང"), Village, None, p::STANDARD, PRIVATE),

    ("attention.dispute", "矛盾纠纷", "Disputes", Some("རྩོད་གཞི"), Village, Some("justice"), p::DISPUTE, DISPUTE),
    ("attention.dispute.marriage-family", "婚姻家庭纠纷", "Marriage and family disputes", None, Village, Some("justice"), p::DISPUTE, DISPUTE),
    ("attention.dispute.neighbour", "邻里纠纷", "Disputes between neighbours", Some("ཁྱིམ་མཚེས་ཀྱི་རྩོད་གཞི"), Village, Some("justice"), p::DISPUTE, DISPUTE),
    // Forest, land and pasture disputes turn on contracted boundaries kept by the township.
    ("attention.dispute.forest-land", "山林土地纠纷", "Forest and land disputes", None, Township, Some("natural-resources"), p::DISPUTE, DISPUTE),
    ("attention.dispute.pasture", "草场纠纷", "Pasture disputes", Some("རྩྭ་ཐང་གི་རྩོད་གཞི"), Township, Some("natural-resources"), p::DISPUTE, DISPUTE),
    ("attention.dispute.ethnic-religious", "民族宗教纠纷", "Ethnic and religious disputes", Some("མི་རིགས་ཆོས་ལུགས་ཀྱི་རྩོད་གཞི"), County, Some("ethnic-religious"), p::DISPUTE, SENSITIVE_DISPUTE),
    ("attention.dispute.labour", "劳资纠纷", "Labour and wage disputes", None, Township, Some("justice"), p::DISPUTE, DISPUTE),
    ("attention.dispute.land-acquisition", "征地拆迁纠纷", "Land acquisition and demolition disputes", None, Township, Some("natural-resources"), p::DISPUTE, DISPUTE),
    // The medical mediation committee (医调委) sits at county level under the justice bureau.
    ("attention.dispute.medical", "医疗纠纷", "Medical disputes", None, County, Some("justice"), p::DISPUTE, DISPUTE),
    ("attention.dispute.damages", "损害赔偿纠纷", "Compensation for damage", None, Village, Some("justice"), p::DISPUTE, DISPUTE),
    ("attention.dispute.other", "其他纠纷", "Other disputes", None, Village, Some("justice"), p::DISPUTE, DISPUTE),

    ("attention.security", "治安", "Public security", None, Township, Some("police"), p::SECURITY, PRIVATE),
    ("attention.security.theft", "盗窃", "Theft", Some("རྐུ་མ"), Township, Some("police"), p::SECURITY, PRIVATE),
    ("attention.security.fight", "打架斗殴", "Fights and brawls", None, Township, Some("police"), p::SECURITY, PRIVATE),
    ("attention.security.gambling", "赌博", "Gambling", None, Township, Some("police"), p::SECURITY, PRIVATE),
    ("attention.security.risk", "治安隐患", "Public-security risks", None, Township, Some("police"), p::SECURITY, PRIVATE),

    ("attention.special-groups", "特殊人群", "Special populations", None, Township, Some("police"), p::SENSITIVE, SENSITIVE),
    ("attention.special-groups.mental-health", "严重精神障碍患者", "People with severe mental disorders", None, Township, Some("police"), p::SENSITIVE, SENSITIVE),
    ("attention.special-groups.community-correction", "社区矫正对象", "People under community correction", None, Township, Some("justice"), p::SENSITIVE, SENSITIVE),
    ("attention.special-groups.released", "刑满释放人员", "People released from prison", None, Township, Some("justice"), p::SENSITIVE, SENSITIVE),
    ("attention.special-groups.drug", "吸毒人员", "Drug users", None, Township, Some("police"), p::SENSITIVE, SENSITIVE),

    ("attention.religion", "宗教事务", "Religious affairs", Some("ཆོས་ལུགས་དོན་གཅོད"), County, Some("ethnic-religious"), p::SENSITIVE, SENSITIVE),
    ("attention.religion.monastery", "寺庙管理", "Monastery management", Some("དགོན་པའི་དོ་དམ"), County, Some("ethnic-religious"), p::SENSITIVE, SENSITIVE),
    ("attention.religion.gathering", "大型宗教活动", "Large religious gatherings", None, County, Some("ethnic-religious"), p::SENSITIVE, SENSITIVE),

    // 虫草采挖 sits under 关注类: each May–June the harvest brings outsiders onto contracted
    // pastures, and its disputes between villages are a classic source of group conflict.
    ("attention.cordyceps", "虫草采挖", "Caterpillar-fungus harvest", Some("དབྱར་རྩྭ་དགུན་འབུ"), Township, Some("natural-resources"), p::CORDYCEPS, PRIVATE),
    ("attention.cordyceps.order", "采挖秩序", "Harvest order (permits, outsiders, camps)", None, Township, Some("natural-resources"), p::CORDYCEPS, PUBLIC),
    ("attention.cordyceps.dispute", "采挖纠纷", "Harvest disputes", None, Township, Some("justice"), p::DISPUTE, DISPUTE),

    // 管理类 ---------------------------------------------------------------------------------
    ("management", "管理类", "Management", Some("དོ་དམ"), Village, None, p::STANDARD, PUBLIC),

    ("management.safety", "安全隐患", "Safety hazards", None, Township, Some("emergency"), p::HAZARD, PUBLIC),
    ("management.safety.housing", "房屋安全", "Unsafe buildings", None, Township, Some("housing"), p::HAZARD, PRIVATE),
    ("management.safety.geohazard", "地质灾害（泥石流、滑坡）", "Geological hazards (debris flows, landslides)", None, Township, Some("natural-resources"), p::HAZARD, PUBLIC),
    ("management.safety.fire", "消防安全", "Fire safety", Some("མེ་སྔོན་འགོག"), Township, Some("emergency"), p::HAZARD, PUBLIC),
    ("management.safety.traffic", "道路交通安全", "Road traffic safety", None, Township, Some("police"), p::HAZARD, PUBLIC),
    ("management.safety.power-gas", "用电用气安全", "Electricity and gas safety", None, Township, Some("emergency"), p::HAZARD, PRIVATE),

    ("management.environment", "环境卫生", "Environment and sanitation", None, Village, Some("ecology"), p::STANDARD, PUBLIC),
    ("management.environment.garbage", "垃圾", "Rubbish", Some("གད་སྙིགས"), Village, Some("housing"), p::STANDARD, PUBLIC),
    ("management.environment.sewage", "污水", "Sewage", None, Township, Some("ecology"), p::STANDARD, PUBLIC),
    ("management.environment.grassland", "草原生态", "Grassland ecology (overgrazing, degradation, pests)", None, Township, Some("natural-resources"), p::STANDARD, PUBLIC),
    ("management.environment.wildlife", "野生动物", "Wildlife (protection, damage to herds)", Some("རི་དྭགས"), Township, Some("natural-resources"), p::STANDARD, PUBLIC),

    ("management.construction", "城乡建设", "Urban and rural construction", None, Township, Some("housing"), p::STANDARD, PUBLIC),
    ("management.construction.illegal-building", "违章建筑", "Unauthorised buildings", None, Township, Some("housing"), p::STANDARD, PRIVATE),
    ("management.construction.road-facilities", "道路设施", "Roads and public facilities", None, Township, Some("housing"), p::STANDARD, PUBLIC),

    // 服务类 ---------------------------------------------------------------------------------
    ("service", "服务类", "Service", Some("ཞབས་ཞུ"), Village, None, p::SERVICE, PRIVATE),

    ("service.livelihood", "民生服务", "Livelihood services", None, Township, Some("civil-affairs"), p::SERVICE, PRIVATE),
    ("service.livelihood.assistance", "低保救助", "Minimum living allowance and relief", None, Township, Some("civil-affairs"), p::SERVICE, PRIVATE),
    ("service.livelihood.elderly", "养老服务", "Care for the elderly", Some("རྒན་གསོ"), Township, Some("civil-affairs"), p::SERVICE, PRIVATE),
    ("service.livelihood.medical", "医疗服务", "Medical services", Some("སྨན་བཅོས"), Township, None, p::SERVICE, PRIVATE),
    ("service.livelihood.education", "教育", "Education", Some("སློབ་གསོ"), Township, None, p::SERVICE, PRIVATE),
    ("service.livelihood.employment", "就业", "Employment", Some("ལས་ཞུགས"), Township, None, p::SERVICE, PRIVATE),
    ("service.livelihood.registration", "户籍证照", "Household registration and papers", None, Township, Some("police"), p::SERVICE, PRIVATE),

    ("service.policy", "政策咨询", "Policy questions", Some("སྲིད་ཇུས་བློ་འདྲི"), Village, None, p::CONSULT, PUBLIC),
    ("service.village-errands", "民事村办", "Village errands done for residents", None, Village, None, p::SERVICE, PRIVATE),
];

/// The default category tree: 53 categories (3 classes, 11 second-level groups, 39 third-level
/// kinds; 41 leaves, as 政策咨询 and 民事村办 have no sub-kinds).
pub fn default_taxonomy() -> Vec<Category> {
    ROWS.iter()
        .map(|&(code, name, name_en, name_bo, level, dept, profile, f)| {
            let code = CategoryCode::parse(code).expect("built-in codes are valid");
            let class = Class::parse(code.root()).expect("built-in codes start with a class");
            Category {
                parent: code.parent(),
                code,
                name: name.to_owned(),
                name_en: name_en.to_owned(),
                name_bo: name_bo.map(str::to_owned),
                class,
                default_level: level,
                default_department: dept.map(str::to_owned),
                limit_profile: profile.to_owned(),
                is_dispute: f.dispute,
                public: f.public,
                sensitive: f.sensitive,
            }
        })
        .collect()
}

/// The default limit table. Working hours and days count only working time (08:30–12:00,
/// 14:30–18:00 on working days); clock units run day and night. Keys rank category, then
/// profile, then urgency, then level (see [`Limits::lookup`]).
///
/// | step    | default   | urgent (加急)       | exceptions |
/// |---------|-----------|---------------------|------------|
/// | accept  | 2 wh      | 30 working min      | hazard/security/sensitive urgent: 30 clock min; sensitive 1 wh |
/// | sign    | 4 wh      | 1 wh                | hazard/security/sensitive urgent: 1 clock h; sensitive 2 wh |
/// | handle  | 5 wd      | 1 wd                | standard by level: village 3, county 10, prefecture 15 wd; service village 3 wd; consult 2 wd (urgent 4 wh); dispute 20 wd (urgent 5 wd); hazard, security, cordyceps 3 wd (urgent 24 clock h); sensitive 10 wd (urgent 24 clock h); harvest disputes 5 wd (urgent 24 clock h) |
/// | verify  | 1 wd      | 4 wh                | |
/// | revisit | 3 wd      | 1 wd                | dispute 5 wd (checks the agreement is performed) |
///
/// Ethnic and religious disputes are accepted within 1 wh and signed within 2 wh (urgent: 30
/// clock minutes, 1 clock hour) although they are mediated on the dispute clock.
pub fn default_limits() -> Limits {
    use Step::{Accept, Handle, Revisit, Sign, Verify};
    use Urgency::Urgent;
    let wm = TimeLimit::working_minutes;
    let wh = TimeLimit::working_hours;
    let wd = TimeLimit::working_days;
    let cm = TimeLimit::clock_minutes;
    let ch = TimeLimit::clock_hours;
    let any = LimitRule::any;

    let mut rules = vec![
        // Every case, whatever its category.
        any(Accept, wh(2)),
        any(Accept, wm(30)).urgency(Urgent),
        any(Sign, wh(4)),
        any(Sign, wh(1)).urgency(Urgent),
        any(Handle, wd(5)),
        any(Handle, wd(1)).urgency(Urgent),
        any(Verify, wd(1)),
        any(Verify, wh(4)).urgency(Urgent),
        any(Revisit, wd(3)),
        any(Revisit, wd(1)).urgency(Urgent),
        // standard: the handling level decides (小事不出村, bigger matters climb).
        any(Handle, wd(5)).profile(p::STANDARD),
        any(Handle, wd(3))
            .profile(p::STANDARD)
            .level(Level::Village),
        any(Handle, wd(10))
            .profile(p::STANDARD)
            .level(Level::County),
        any(Handle, wd(15))
            .profile(p::STANDARD)
            .level(Level::Prefecture),
        any(Handle, wd(1)).profile(p::STANDARD).urgency(Urgent),
        // service
        any(Handle, wd(5)).profile(p::SERVICE),
        any(Handle, wd(3)).profile(p::SERVICE).level(Level::Village),
        any(Handle, wd(1)).profile(p::SERVICE).urgency(Urgent),
        // consult
        any(Handle, wd(2)).profile(p::CONSULT),
        any(Handle, wh(4)).profile(p::CONSULT).urgency(Urgent),
        // dispute
        any(Handle, wd(20)).profile(p::DISPUTE),
        any(Handle, wd(5)).profile(p::DISPUTE).urgency(Urgent),
        any(Revisit, wd(5)).profile(p::DISPUTE),
        // ethnic and religious disputes: mediated on the dispute clock, taken up at once.
        any(Accept, wh(1)).category("attention.dispute.ethnic-religious"),
        any(Accept, cm(30))
            .category("attention.dispute.ethnic-religious")
            .urgency(Urgent),
        any(Sign, wh(2)).category("attention.dispute.ethnic-religious"),
        any(Sign, ch(1))
            .category("attention.dispute.ethnic-religious")
            .urgency(Urgent),
        // harvest disputes must be settled while the harvest lasts.
        any(Handle, wd(5)).category("attention.cordyceps.dispute"),
        any(Handle, ch(24))
            .category("attention.cordyceps.dispute")
            .urgency(Urgent),
        // sensitive
        any(Accept, wh(1)).profile(p::SENSITIVE),
        any(Sign, wh(2)).profile(p::SENSITIVE),
        any(Handle, wd(10)).profile(p::SENSITIVE),
    ];
    // Matters that cannot wait for Monday: when urgent, accept, sign and handle run on the clock.
    for profile in [p::HAZARD, p::SECURITY, p::SENSITIVE, p::CORDYCEPS] {
        rules.extend([
            any(Accept, cm(30)).profile(profile).urgency(Urgent),
            any(Sign, ch(1)).profile(profile).urgency(Urgent),
            any(Handle, ch(24)).profile(profile).urgency(Urgent),
        ]);
    }
    for profile in [p::HAZARD, p::SECURITY, p::CORDYCEPS] {
        rules.push(any(Handle, wd(3)).profile(profile));
    }
    Limits::new(rules).expect("the default limit table has no duplicate keys")
}
