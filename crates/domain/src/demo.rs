//! The deterministic demo data set: Gannan's real territory with generated grids, joint-defence
//! groups, households, members of the eight forces, monasteries, enterprises, pairings and the
//! demo accounts of CONTRACT.md. Pure: no I/O, no clock, no threads.
//!
//! Every village draws from its own random stream seeded from its code, and the few figures that
//! are shared across villages (households per village, phone-number slots, where monasteries
//! stand, which villages lack a paired department) are planned once over the whole prefecture.
//! So the small scale (夏河县 alone) is exactly the 夏河县 part of the full one, and both come
//! out the same, bit for bit, on every machine.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use chrono::{Days, NaiveDate};
use geo::{BoundingRect, Contains, MultiPolygon, Point};
use rand::{Rng as _, SeedableRng};

use crate::account::Role;
use crate::draw::{Rng, below, chance, pick, unit, weighted};
use crate::gannan::{self, VillageKind};
use crate::partition::Cell;
use crate::people::{
    Enterprise, Force, Gender, Household, Member, Monastery, Pairing, PairingKind, PairingSubject,
    PairingTarget, Resident, TOWNSHIP_DEPARTMENTS, UPPER_DEPARTMENTS, Unit, UnitKind,
};
use crate::territory::{GeometrySource, Level, Node, TerritoryCode};

/// Password of every demo account (CONTRACT.md).
pub const DEMO_PASSWORD: &str = "gesang-demo";

/// Households in the whole prefecture at full scale (DOMAIN.md §2).
pub const TOTAL_HOUSEHOLDS: u32 = 206_400;

/// The county that the small scale keeps: 夏河县.
pub const SMALL_COUNTY: &str = "623027";

const PREFECTURE: &str = "623000";

/// How much of Gannan the demo data set covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scale {
    /// All of Gannan: 697 villages, 206,400 households.
    Full,
    /// 夏河县 (623027) alone, with the same density, plus the prefecture node and its centre
    /// and departments so that a prefecture operator exists.
    Small,
}

impl Scale {
    pub const ALL: [Scale; 2] = [Scale::Full, Scale::Small];

    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Full => "full",
            Scale::Small => "small",
        }
    }

    /// Whether a node of the real territory (prefecture to village) is part of this scale.
    pub fn includes(self, code: &TerritoryCode) -> bool {
        match self {
            Scale::Full => true,
            Scale::Small => code.as_str() == PREFECTURE || code.as_str().starts_with(SMALL_COUNTY),
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scale name that is neither `full` nor `small`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown demo scale {0:?}: expected \"full\" or \"small\"")]
pub struct UnknownScale(pub String);

impl FromStr for Scale {
    type Err = UnknownScale;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scale::ALL
            .into_iter()
            .find(|x| x.as_str() == s.trim())
            .ok_or_else(|| UnknownScale(s.to_owned()))
    }
}

/// An account to create, with the demo password [`DEMO_PASSWORD`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAccount {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The node the account sees and acts on, with everything below it.
    pub scope: TerritoryCode,
    /// The unit the account works in (centre operators, handlers, grid workers).
    pub unit: Option<String>,
    /// The member behind the account (grid workers, household heads, handlers).
    pub member: Option<i64>,
}

/// The whole demo data set. Ids are sequential from 1 per table, in territory-code order.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoData {
    /// Every territory node, grids (with generated geometry) and joint-defence groups (no
    /// geometry) included, sorted by code, so parents come first.
    pub nodes: Vec<Node>,
    /// A centre per prefecture, county, township and village; a unit per grid; departments at
    /// the prefecture, each county and each township.
    pub units: Vec<Unit>,
    pub households: Vec<Household>,
    pub members: Vec<Member>,
    /// Joint-defence group code → member id of its household head (联户长).
    pub group_heads: Vec<(TerritoryCode, i64)>,
    pub monasteries: Vec<Monastery>,
    pub enterprises: Vec<Enterprise>,
    pub pairings: Vec<Pairing>,
    pub accounts: Vec<DemoAccount>,
}

/// Generate the demo data set. Deterministic: the same scale gives the same data every time.
pub fn generate(scale: Scale) -> DemoData {
    let territory = gannan::territory();
    let plan = Plan::new(territory);
    let mut g = Generator::new(&plan);
    for node in territory.iter().filter(|n| scale.includes(&n.code)) {
        match node.level() {
            Level::Prefecture | Level::County => g.upper(node),
            Level::Township => g.township(node),
            Level::Village => g.village(node),
            Level::Grid | Level::Group => {}
        }
    }
    g.out
}

/// The kind of a village-level unit (community, village committee, virtual area).
fn village_kind(code: &TerritoryCode) -> VillageKind {
    gannan::village_kind(code).unwrap_or(VillageKind::VillageCommittee)
}

// ---------------------------------------------------------------------------------------------
// Randomness: one PCG stream per (node, purpose), drawn through the conversions of `draw` so
// the data does not shift when rand changes its sampling algorithms.

const SALT_WEIGHT: u64 = 1;
const SALT_NODE: u64 = 2;
const SALT_PLAN: u64 = 3;
const SALT_LOCATION: u64 = 4;

fn rng_for(code: &str, salt: u64) -> Rng {
    // FNV-1a over the code's bytes: works for department codes such as "623027-police" too.
    let h = code.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    Rng::seed_from_u64(h ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// A uniform integer in `lo..=hi`.
fn between(rng: &mut Rng, lo: i32, hi: i32) -> i32 {
    lo + below(rng, (hi - lo + 1) as usize) as i32
}

/// A day in 2024–2025, for the start of a pairing.
fn start_date(rng: &mut Rng) -> NaiveDate {
    day(2024, 1, 1) + Days::new(below(rng, 731) as u64)
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid constant date")
}

// ---------------------------------------------------------------------------------------------
// Names, phones and ID numbers.

/// The year ages are counted from.
const BASE_YEAR: i32 = 2025;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ethnicity {
    Tibetan,
    Han,
    Hui,
}

/// The ethnic mix of a village: towns are as mixed as their county, while a rural village is
/// mostly of one people (drawn with the county's shares), with 15% of others.
fn village_mix(rng: &mut Rng, county: &str, kind: VillageKind) -> [u32; 3] {
    let county_mix = ethnic_mix(county);
    if kind == VillageKind::Community {
        return county_mix;
    }
    let main = weighted(rng, &county_mix);
    let mut mix = county_mix.map(|w| w * 15 / 100);
    mix[main] += 850;
    mix
}

/// Per-mille shares of Tibetan, Han and Hui households by county: pastoral counties are almost
/// all Tibetan, 临潭 and 舟曲 mostly Han, with Hui communities in 临潭, 合作 and 夏河.
fn ethnic_mix(county: &str) -> [u32; 3] {
    match county {
        "623001" => [600, 300, 100],
        "623021" => [200, 550, 250],
        "623022" => [650, 300, 50],
        "623023" => [400, 590, 10],
        "623024" => [750, 240, 10],
        "623025" => [900, 80, 20],
        "623026" => [880, 80, 40],
        "623027" => [800, 120, 80],
        _ => [500, 400, 100],
    }
}

fn ethnicity(rng: &mut Rng, county: &str) -> Ethnicity {
    ethnicity_in(rng, &ethnic_mix(county))
}

fn ethnicity_in(rng: &mut Rng, mix: &[u32; 3]) -> Ethnicity {
    match weighted(rng, mix) {
        0 => Ethnicity::Tibetan,
        1 => Ethnicity::Han,
        _ => Ethnicity::Hui,
    }
}

const TIBETAN_MALE: &[&str] = &[
    "才让", "多杰", "道杰", "索南", "扎西", "尕藏", "更登", "桑吉", "旦正", "洛桑", "贡保", "拉旦",
    "完玛", "久美", "东智", "加措", "尼玛", "达杰", "华旦", "仁青", "切排", "才旦", "周加", "公保",
    "南杰", "扎巴", "阿旺", "贡布", "先巴", "拉加", "万玛", "完德", "尕玛", "旦增", "丹巴", "曲吉",
    "嘉措", "李加", "当周", "昂杰", "却太", "闹吾", "仁增", "格桑", "丹珠", "三木", "加羊", "智华",
];
const TIBETAN_FEMALE: &[&str] = &[
    "卓玛", "拉毛", "央金", "德吉", "才措", "吉毛", "卓嘎", "拉姆", "措毛", "尕毛", "桑毛", "央措",
    "当知", "东珠", "梅朵", "吉措", "完么", "娘吉", "先毛", "周毛", "道吉", "加毛", "卓尕", "拉措",
    "仁措", "才吉", "旦知", "华青", "索南", "扎西", "才让", "格桑", "贡毛", "三知", "曼拉", "吉美",
];
const HAN_SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "杨", "赵", "陈", "马", "丁", "周", "吴", "徐", "孙", "朱", "胡", "郭",
    "何", "高", "罗", "郑", "梁", "谢", "宋", "唐", "韩", "冯", "邓", "曹", "彭", "田", "董", "袁",
    "潘", "蒋", "蔡", "杜", "程", "苏", "魏", "吕", "任", "姚", "卢", "姜", "崔", "汪", "范", "石",
    "贾", "付", "白", "孟", "秦", "尹", "薛", "闫", "段", "雷", "侯", "史", "陶", "贺", "毛", "敏",
];
const HAN_MALE: &[&str] = &[
    "建国", "建军", "志刚", "志强", "国华", "永红", "文斌", "海军", "明", "伟", "强", "军", "涛",
    "刚", "勇", "斌", "鹏", "杰", "磊", "浩", "宇", "晨", "子豪", "浩然", "宇轩", "俊杰", "文博",
    "鑫", "亮", "平", "福祥", "成林", "生福", "发明", "德明", "玉林", "进林", "红军", "学军",
    "宏伟", "世清", "永平", "正华", "继红", "国强", "小龙", "海平", "天佑",
];
const HAN_FEMALE: &[&str] = &[
    "秀兰", "桂英", "玉兰", "秀英", "桂兰", "淑芳", "丽", "芳", "娟", "霞", "燕", "敏", "静",
    "红霞", "丽娟", "晓燕", "艳", "婷", "雪", "欣怡", "子涵", "梓萱", "雨涵", "思琪", "佳怡",
    "玉梅", "桂花", "兰花", "金花", "海燕", "春梅", "小红", "彩霞", "晓丽", "月琴", "玉珍",
];
const HUI_SURNAMES: &[&str] = &[
    "马", "马", "马", "马", "马", "马", "马", "马", "丁", "丁", "杨", "杨", "敏", "韩", "穆", "冶",
    "喇", "拜", "何", "苏", "沙", "海",
];
#[rustfmt::skip]
const HUI_MALE: &[&str] = &[
    "占林", "福祥", "全忠", "忠孝", "有才", "国林", "尔撒", "乙四哈", "哈比布", "尕西木", "伊布拉",
    "穆沙", "海龙", "福海", "成龙", "德福", "学文", "志忠", "永福", "成林", "尔里", "优素福",
    "达吾德", "尤努斯", "哈三", "舍力布", "俊", "明", "虎", "文清", "玉海", "国梁",
];
#[rustfmt::skip]
const HUI_FEMALE: &[&str] = &[
    "麦尔燕", "法图麦", "阿依莎", "海麦", "哈丽玛", "尕麦", "秀兰", "玉梅", "桂花", "牡丹", "麦燕",
    "索菲亚", "阿米乃", "赛麦", "尔外", "哈志麦", "秀英", "桂兰", "玉兰", "萍", "兰英", "雪梅",
];

fn surname(rng: &mut Rng, eth: Ethnicity) -> &'static str {
    match eth {
        Ethnicity::Tibetan => "",
        Ethnicity::Han => HAN_SURNAMES[below(rng, HAN_SURNAMES.len())],
        Ethnicity::Hui => HUI_SURNAMES[below(rng, HUI_SURNAMES.len())],
    }
}

/// A full name; `family` is the surname for Han and Hui people (Tibetans have none).
fn person_name(rng: &mut Rng, eth: Ethnicity, gender: Gender, family: &str) -> String {
    match (eth, gender) {
        (Ethnicity::Tibetan, Gender::Male) => {
            let first = pick(rng, TIBETAN_MALE);
            if chance(rng, 0.45) {
                (*first).to_owned()
            } else {
                let second = loop {
                    let s = pick(rng, TIBETAN_MALE);
                    if s != first {
                        break s;
                    }
                };
                format!("{first}{second}")
            }
        }
        (Ethnicity::Tibetan, Gender::Female) => {
            let first = pick(rng, TIBETAN_FEMALE);
            match weighted(rng, &[35, 25, 40]) {
                0 => (*first).to_owned(),
                1 => format!("{first}草"),
                _ => {
                    let second = loop {
                        let s = pick(rng, &TIBETAN_FEMALE[..28]);
                        if s != first {
                            break s;
                        }
                    };
                    format!("{first}{second}")
                }
            }
        }
        (Ethnicity::Han, Gender::Male) => format!("{family}{}", pick(rng, HAN_MALE)),
        (Ethnicity::Han, Gender::Female) => format!("{family}{}", pick(rng, HAN_FEMALE)),
        (Ethnicity::Hui, Gender::Male) => format!("{family}{}", pick(rng, HUI_MALE)),
        (Ethnicity::Hui, Gender::Female) => format!("{family}{}", pick(rng, HUI_FEMALE)),
    }
}

/// The name of a person with no household in the data set (cadres, deputies).
fn stranger(rng: &mut Rng, county: &str, gender: Gender) -> String {
    let eth = ethnicity(rng, county);
    let family = surname(rng, eth);
    person_name(rng, eth, gender, family)
}

fn male_with(rng: &mut Rng, p: f64) -> Gender {
    if chance(rng, p) {
        Gender::Male
    } else {
        Gender::Female
    }
}

fn other(g: Gender) -> Gender {
    match g {
        Gender::Male => Gender::Female,
        Gender::Female => Gender::Male,
    }
}

/// Phone numbers per node ordinal: each node (prefecture to village) owns this many slots.
const PHONE_SLOTS: u32 = 20_000;
const PHONE_PREFIXES: [&str; 36] = [
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "170", "173", "177", "178", "180", "181", "182", "183",
    "185", "186", "187", "188", "189", "191", "193", "195", "198", "199",
];

/// The phone number of slot `seq` of node `ordinal`: unique because the last eight digits are a
/// bijection of (ordinal, seq) (multiplication by a number prime to 10, modulo 10⁸).
fn phone_number(ordinal: u32, seq: u32) -> String {
    assert!(seq < PHONE_SLOTS, "phone slots of a node exhausted");
    let x = u64::from(ordinal) * u64::from(PHONE_SLOTS) + u64::from(seq);
    let tail = (x * 48_271_213 + 19_880_417) % 100_000_000;
    let prefix =
        PHONE_PREFIXES[(x.wrapping_mul(0x9e37_79b9) >> 11) as usize % PHONE_PREFIXES.len()];
    format!("{prefix}{tail:08}")
}

/// Hands out the phone numbers of one node.
struct Phones {
    ordinal: u32,
    next: u32,
}

impl Phones {
    fn take(&mut self) -> String {
        let p = phone_number(self.ordinal, self.next);
        self.next += 1;
        p
    }
}

/// The check character of an 18-character resident ID (GB 11643-1999, ISO 7064 MOD 11-2).
fn id_check_char(body: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    CHECK[(sum % 11) as usize]
}

/// A resident ID: the county code as region, the birth date, a sequence whose parity gives the
/// gender (odd for men), and the check character.
fn id_number(rng: &mut Rng, county: &str, birth_year: i32, gender: Gender) -> String {
    let month = 1 + below(rng, 12);
    let day = 1 + below(rng, 28);
    let seq = below(rng, 500) * 2 + usize::from(gender == Gender::Male);
    let mut id = format!("{county}{birth_year:04}{month:02}{day:02}{seq:03}");
    id.push(id_check_char(&id));
    id
}

// ---------------------------------------------------------------------------------------------
// Place names.

/// `达麦村民委员会` → `达麦村`, `塔哇社区居民委员会` → `塔哇社区`.
fn short_village_name(name: &str) -> String {
    if let Some(stem) = name.strip_suffix("村民委员会") {
        if stem.ends_with('村') {
            stem.to_owned()
        } else {
            format!("{stem}村")
        }
    } else if let Some(stem) = name.strip_suffix("居民委员会") {
        stem.to_owned()
    } else {
        name.to_owned()
    }
}

/// The name used in unit names and addresses: `甘南州`, `夏河县`, `达麦乡`, `达麦村`.
fn short_name(node: &Node) -> String {
    match node.level() {
        Level::Prefecture => match node.name.strip_suffix("藏族自治州") {
            Some(stem) => format!("{stem}州"),
            None => node.name.clone(),
        },
        Level::Village => short_village_name(&node.name),
        _ => node.name.clone(),
    }
}

/// `达麦村` → `达麦`, `塔哇社区` → `塔哇`: the stem a monastery or cooperative is named after.
fn place_stem(short: &str) -> &str {
    short
        .strip_suffix("社区")
        .or_else(|| short.strip_suffix('村'))
        .unwrap_or(short)
}

// ---------------------------------------------------------------------------------------------
// The plan: what is decided over the whole prefecture before any village is generated.

/// Shares of the prefecture's households by county, roughly as the 2020 census populations.
fn county_share(county: &str) -> f64 {
    match county {
        "623001" => 0.150,
        "623021" => 0.190,
        "623022" => 0.145,
        "623023" => 0.190,
        "623024" => 0.075,
        "623025" => 0.085,
        "623026" => 0.055,
        "623027" => 0.110,
        _ => 0.0,
    }
}

/// Monasteries per county: about 120 in all, most in 夏河.
fn monastery_quota(county: &str) -> usize {
    match county {
        "623001" => 8,
        "623021" => 9,
        "623022" => 18,
        "623023" => 9,
        "623024" => 14,
        "623025" => 14,
        "623026" => 14,
        "623027" => 34,
        _ => 0,
    }
}

/// Well-known monasteries: (township code, village code or "" for the township's first
/// village committee, name, monks).
const FAMOUS_MONASTERIES: [(&str, &str, &str, i32); 10] = [
    ("623027100", "623027100001", "拉卜楞寺", 1200),
    ("623027104", "623027104201", "作海寺", 60),
    ("623027106", "", "博拉寺", 80),
    ("623026100", "623026100200", "郎木寺", 420),
    ("623026102", "", "西仓寺", 150),
    ("623022100", "", "禅定寺", 210),
    ("623024100", "", "电尕寺", 90),
    ("623024102", "", "旺藏寺", 70),
    ("623025102", "", "阿万仓寺", 110),
    ("623001001", "", "合作寺", 130),
];

#[derive(Debug, Clone)]
struct PlannedMonastery {
    name: String,
    monks: i32,
    /// Whether a cadre is paired with it (联寺包僧); the rest are coverage gaps.
    paired: bool,
}

struct Plan {
    /// Households per village code.
    households: HashMap<String, u32>,
    /// Phone-slot ordinal per node code (prefecture to village).
    ordinal: HashMap<String, u32>,
    /// Short names per node code.
    short: HashMap<String, String>,
    /// Monasteries per village code, in id order.
    monasteries: HashMap<String, Vec<PlannedMonastery>>,
    /// Villages with no paired department (包村 coverage gaps).
    unpaired_villages: HashSet<String>,
}

impl Plan {
    fn new(territory: &[Node]) -> Plan {
        let ordinal = territory
            .iter()
            .enumerate()
            .map(|(i, n)| (n.code.as_str().to_owned(), i as u32))
            .collect();
        let short = territory
            .iter()
            .map(|n| (n.code.as_str().to_owned(), short_name(n)))
            .collect();
        let mut by_county: Vec<(&str, Vec<&Node>)> = Vec::new();
        for n in territory.iter().filter(|n| n.level() == Level::Village) {
            let county = &n.code.as_str()[..6];
            match by_county.last_mut() {
                Some((c, list)) if *c == county => list.push(n),
                _ => by_county.push((county, vec![n])),
            }
        }

        let mut households = HashMap::new();
        let mut monasteries = HashMap::new();
        let mut unpaired_villages = HashSet::new();
        let shares: f64 = by_county.iter().map(|(c, _)| county_share(c)).sum();
        let county_totals = largest_remainder(
            TOTAL_HOUSEHOLDS,
            &by_county
                .iter()
                .map(|(c, _)| county_share(c) / shares)
                .collect::<Vec<_>>(),
        );
        for ((county, villages), total) in by_county.iter().zip(county_totals) {
            let weights: Vec<f64> = villages.iter().map(|v| village_weight(v)).collect();
            let sum: f64 = weights.iter().sum();
            let norm: Vec<f64> = weights.iter().map(|w| w / sum).collect();
            for (v, h) in villages.iter().zip(largest_remainder(total, &norm)) {
                households.insert(v.code.as_str().to_owned(), h);
            }
            plan_monasteries(county, villages, &mut monasteries);
            // About 2% of villages have no paired department: the coverage gaps.
            let gaps = (villages.len() * 2 + 50) / 100;
            for v in by_hash(villages, "department-gap")
                .into_iter()
                .take(gaps.max(1))
            {
                unpaired_villages.insert(v.code.as_str().to_owned());
            }
        }
        mark_monastery_gaps(&mut monasteries);
        Plan {
            households,
            ordinal,
            short,
            monasteries,
            unpaired_villages,
        }
    }

    fn short(&self, code: &str) -> &str {
        self.short.get(code).map_or("", String::as_str)
    }
}

/// About 3% of monasteries have no paired cadre: the coverage gaps, never a famous one, and
/// one of them in 夏河县 so that the small scale shows a gap too.
fn mark_monastery_gaps(monasteries: &mut HashMap<String, Vec<PlannedMonastery>>) {
    let total: usize = monasteries.values().map(Vec::len).sum();
    let wanted = (total * 3 + 50) / 100;
    let mut candidates: Vec<(u64, String, usize)> = monasteries
        .iter()
        .flat_map(|(code, list)| {
            list.iter().enumerate().filter_map(move |(i, m)| {
                let famous = FAMOUS_MONASTERIES.iter().any(|f| f.2 == m.name);
                let mut rng = rng_for(&format!("{code}/{}", m.name), SALT_PLAN);
                (!famous).then(|| (rng.next_u64(), code.clone(), i))
            })
        })
        .collect();
    candidates.sort();
    let small = candidates
        .iter()
        .position(|c| c.1.starts_with(SMALL_COUNTY));
    let rest = candidates
        .iter()
        .enumerate()
        .filter(|(k, c)| !c.1.starts_with(SMALL_COUNTY) && Some(*k) != small)
        .map(|(k, _)| k);
    for k in small.into_iter().chain(rest).take(wanted) {
        let (_, code, i) = &candidates[k];
        if let Some(m) = monasteries.get_mut(code).and_then(|l| l.get_mut(*i)) {
            m.paired = false;
        }
    }
}

/// A village's share of its county's households: communities in town are larger, the virtual
/// areas of state farms tiny, the rest varies by ±35%.
fn village_weight(v: &Node) -> f64 {
    let code = v.code.as_str();
    let mut rng = rng_for(code, SALT_WEIGHT);
    let kind = match village_kind(&v.code) {
        VillageKind::Community => 2.8,
        VillageKind::VillageCommittee => 1.0,
        VillageKind::VirtualArea => 0.12,
    };
    kind * (0.65 + 0.7 * unit(&mut rng))
}

/// Split `total` in proportion to `shares` (summing to 1) into integers summing to `total`.
fn largest_remainder(total: u32, shares: &[f64]) -> Vec<u32> {
    let exact: Vec<f64> = shares.iter().map(|s| s * f64::from(total)).collect();
    let mut out: Vec<u32> = exact.iter().map(|e| e.floor() as u32).collect();
    let given: u32 = out.iter().sum();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order
        .iter()
        .cycle()
        .take(total.saturating_sub(given) as usize)
    {
        out[i] += 1;
    }
    out
}

/// The nodes ordered by a hash of their code with `purpose`: a deterministic shuffle.
fn by_hash<'a>(nodes: &[&'a Node], purpose: &str) -> Vec<&'a Node> {
    let mut keyed: Vec<(u64, &Node)> = nodes
        .iter()
        .map(|n| {
            let mut rng = rng_for(&format!("{}/{purpose}", n.code), SALT_PLAN);
            (rng.next_u64(), *n)
        })
        .collect();
    keyed.sort_by_key(|(k, n)| (*k, n.code.clone()));
    keyed.into_iter().map(|(_, n)| n).collect()
}

fn plan_monasteries(
    county: &str,
    villages: &[&Node],
    out: &mut HashMap<String, Vec<PlannedMonastery>>,
) {
    let quota = monastery_quota(county);
    let mut placed: Vec<(String, PlannedMonastery)> = Vec::new();
    for (township, village, name, monks) in FAMOUS_MONASTERIES {
        if !township.starts_with(county) {
            continue;
        }
        let target = villages
            .iter()
            .find(|v| v.code.as_str() == village)
            .or_else(|| {
                villages.iter().find(|v| {
                    v.code.as_str().starts_with(township)
                        && village_kind(&v.code) == VillageKind::VillageCommittee
                })
            })
            .or_else(|| {
                villages
                    .iter()
                    .find(|v| v.code.as_str().starts_with(township))
            });
        if let Some(v) = target {
            let m = PlannedMonastery {
                name: name.to_owned(),
                monks,
                paired: true,
            };
            placed.push((v.code.as_str().to_owned(), m));
        }
    }
    let rural: Vec<&Node> = villages
        .iter()
        .copied()
        .filter(|v| village_kind(&v.code) == VillageKind::VillageCommittee)
        .collect();
    let mut names: HashSet<String> = placed.iter().map(|(_, m)| m.name.clone()).collect();
    for v in by_hash(&rural, "monastery") {
        if placed.len() >= quota {
            break;
        }
        if placed.iter().any(|(c, _)| c == v.code.as_str()) {
            continue;
        }
        let short = short_village_name(&v.name);
        let mut name = format!("{}寺", place_stem(&short));
        if !names.insert(name.clone()) {
            // Two villages of one name: the smaller monastery gets 尕 ("little").
            name = format!("{}尕寺", place_stem(&short));
            names.insert(name.clone());
        }
        let mut rng = rng_for(v.code.as_str(), SALT_PLAN);
        let monks = if chance(&mut rng, 0.2) {
            between(&mut rng, 60, 260)
        } else {
            between(&mut rng, 6, 60)
        };
        placed.push((
            v.code.as_str().to_owned(),
            PlannedMonastery {
                name,
                monks,
                paired: true,
            },
        ));
    }
    placed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.name.cmp(&b.1.name)));
    for (code, m) in placed {
        out.entry(code).or_default().push(m);
    }
}

// ---------------------------------------------------------------------------------------------
// The generator: walks the territory in code order and appends to the tables.

/// Households per grid, roughly (DOMAIN.md: grids of about a hundred households here).
const HOUSEHOLDS_PER_GRID: u32 = 100;
/// Share of households that moved in recently and are in no joint-defence group yet.
const UNGROUPED_SHARE: f64 = 0.003;

/// The members and units of the county being generated, for pairings below it.
#[derive(Default)]
struct CountyState {
    /// Department unit codes of the county.
    departments: Vec<String>,
    /// Cadres of the county's departments.
    cadres: Vec<i64>,
    /// Cadres of the county's ethnic and religious affairs bureau.
    religious_cadres: Vec<i64>,
}

/// The members of the township being generated.
#[derive(Default)]
struct TownshipState {
    /// 包村干部: cadres paired with the township's grids.
    village_cadres: Vec<i64>,
    /// 驻寺干部 by (village code, monastery index).
    monastery_cadres: HashMap<(String, usize), i64>,
}

struct Generator<'a> {
    plan: &'a Plan,
    out: DemoData,
    prefecture_departments: Vec<String>,
    county: CountyState,
    township: TownshipState,
    enterprise_names: HashSet<String>,
}

/// A member before it gets its id.
struct NewMember {
    name: String,
    gender: Gender,
    phone: String,
    forces: Vec<Force>,
    unit: String,
    territory: TerritoryCode,
    title: String,
}

impl<'a> Generator<'a> {
    fn new(plan: &'a Plan) -> Self {
        Generator {
            plan,
            out: DemoData {
                nodes: Vec::new(),
                units: Vec::new(),
                households: Vec::new(),
                members: Vec::new(),
                group_heads: Vec::new(),
                monasteries: Vec::new(),
                enterprises: Vec::new(),
                pairings: Vec::new(),
                accounts: Vec::new(),
            },
            prefecture_departments: Vec::new(),
            county: CountyState::default(),
            township: TownshipState::default(),
            enterprise_names: HashSet::new(),
        }
    }

    fn phones(&self, code: &str) -> Phones {
        Phones {
            ordinal: self.plan.ordinal.get(code).copied().unwrap_or(0),
            next: 0,
        }
    }

    fn add_member(&mut self, m: NewMember) -> i64 {
        let id = self.out.members.len() as i64 + 1;
        self.out.members.push(Member {
            id,
            name: m.name,
            gender: m.gender,
            phone: m.phone,
            forces: m.forces,
            unit: m.unit,
            territory: m.territory,
            title: m.title,
        });
        id
    }

    fn add_pairing(
        &mut self,
        kind: PairingKind,
        subject: PairingSubject,
        target: PairingTarget,
        start: NaiveDate,
        end: Option<NaiveDate>,
    ) {
        let id = self.out.pairings.len() as i64 + 1;
        self.out.pairings.push(Pairing {
            id,
            kind,
            subject,
            target,
            start,
            end,
        });
    }

    fn account(
        &mut self,
        username: String,
        display_name: String,
        role: Role,
        scope: &TerritoryCode,
        unit: Option<String>,
        member: Option<i64>,
    ) {
        self.out.accounts.push(DemoAccount {
            username,
            display_name,
            role,
            scope: scope.clone(),
            unit,
            member,
        });
    }

    /// The centre unit and the centre and leader accounts of a node.
    fn centre(&mut self, node: &Node) -> String {
        let code = node.code.as_str().to_owned();
        let place = self.plan.short(&code).to_owned();
        let name = format!("{place}综治中心");
        self.out.units.push(Unit {
            code: code.clone(),
            name: name.clone(),
            kind: UnitKind::Center,
            territory: node.code.clone(),
        });
        self.account(
            format!("center-{code}"),
            format!("{name}受理员"),
            Role::CenterOperator,
            &node.code,
            Some(code.clone()),
            None,
        );
        self.account(
            format!("leader-{code}"),
            format!("{place}分管领导"),
            Role::Leader,
            &node.code,
            None,
            None,
        );
        code
    }

    /// A department unit with its cadres and its handler account; returns (code, cadre ids).
    fn department(
        &mut self,
        node: &Node,
        slug: &str,
        name: String,
        titles: &[&str],
        phones: &mut Phones,
    ) -> (String, Vec<i64>) {
        let code = format!("{}-{slug}", node.code);
        self.out.units.push(Unit {
            code: code.clone(),
            name,
            kind: UnitKind::Department,
            territory: node.code.clone(),
        });
        let mut rng = rng_for(&code, SALT_NODE);
        let county = county_of(&node.code);
        let mut ids = Vec::new();
        for title in titles {
            let gender = male_with(&mut rng, 0.7);
            let name = stranger(&mut rng, county, gender);
            let mut forces = vec![Force::Cadres];
            if chance(&mut rng, 0.4) {
                forces.push(Force::PartyBuilding);
            }
            ids.push(self.add_member(NewMember {
                name,
                gender,
                phone: phones.take(),
                forces,
                unit: code.clone(),
                territory: node.code.clone(),
                title: (*title).to_owned(),
            }));
        }
        let handler = ids.last().copied();
        let display = handler.map_or_else(String::new, |id| {
            self.out.members[id as usize - 1].name.clone()
        });
        self.account(
            format!("handler-{code}"),
            display,
            Role::DepartmentHandler,
            &node.code,
            Some(code.clone()),
            handler,
        );
        (code, ids)
    }

    /// Cadres of a centre.
    fn centre_cadres(
        &mut self,
        node: &Node,
        titles: &[String],
        extra_force: Option<Force>,
        phones: &mut Phones,
        rng: &mut Rng,
    ) -> Vec<i64> {
        let county = county_of(&node.code);
        let mut ids = Vec::new();
        for title in titles {
            let gender = male_with(rng, 0.65);
            let name = stranger(rng, county, gender);
            let mut forces = vec![Force::Cadres];
            if let Some(f) = extra_force {
                forces.push(f);
            } else if chance(rng, 0.45) {
                forces.push(Force::PartyBuilding);
            }
            ids.push(self.add_member(NewMember {
                name,
                gender,
                phone: phones.take(),
                forces,
                unit: node.code.as_str().to_owned(),
                territory: node.code.clone(),
                title: title.clone(),
            }));
        }
        ids
    }

    /// The prefecture or a county: centre, departments and their cadres.
    fn upper(&mut self, node: &Node) {
        let code = node.code.as_str().to_owned();
        let is_prefecture = node.level() == Level::Prefecture;
        self.out.nodes.push(node.clone());
        if is_prefecture {
            self.account(
                "admin".to_owned(),
                "系统管理员".to_owned(),
                Role::Admin,
                &node.code,
                None,
                None,
            );
        }
        self.centre(node);
        let place = self.plan.short(&code).to_owned();
        let mut phones = self.phones(&code);
        let mut rng = rng_for(&code, SALT_NODE);
        let level = if is_prefecture {
            "州"
        } else if place.ends_with('市') {
            "市"
        } else {
            "县"
        };
        let mut titles = vec![
            format!("{level}综治中心主任"),
            format!("{level}综治中心副主任"),
        ];
        let staff = ["受理员", "派遣员", "督办员", "研判员", "受理员", "派遣员"];
        let n_staff = if is_prefecture { 6 } else { 4 };
        titles.extend(staff[..n_staff].iter().map(|s| (*s).to_owned()));
        self.centre_cadres(node, &titles, None, &mut phones, &mut rng);

        let mut departments = Vec::new();
        let mut cadres = Vec::new();
        let mut religious = Vec::new();
        for dept in UPPER_DEPARTMENTS {
            let titles: &[&str] = match (dept.slug, is_prefecture) {
                ("police", true) => &["局长", "副局长", "治安支队长", "民警", "民警", "民警"],
                ("police", false) => &["局长", "副局长", "治安大队长", "民警", "民警"],
                (_, true) => &["局长", "副局长", "科长", "科员", "科员", "科员"],
                (_, false) => &["局长", "副局长", "股长", "科员", "科员"],
            };
            let (unit, ids) = self.department(
                node,
                dept.slug,
                format!("{place}{}", dept.name),
                titles,
                &mut phones,
            );
            if dept.slug == "ethnic-religious" {
                religious.extend(ids.iter().copied());
            }
            cadres.extend(ids);
            departments.push(unit);
        }
        if is_prefecture {
            self.prefecture_departments = departments;
        } else {
            self.county = CountyState {
                departments,
                cadres,
                religious_cadres: religious,
            };
        }
    }

    /// A township: centre, police station, justice office, cadres and deputies.
    fn township(&mut self, node: &Node) {
        let code = node.code.as_str().to_owned();
        self.out.nodes.push(node.clone());
        self.centre(node);
        let place = self.plan.short(&code).to_owned();
        let mut phones = self.phones(&code);
        let mut rng = rng_for(&code, SALT_NODE);
        let county = county_of(&node.code);
        let villages: Vec<(&String, &u32)> = {
            let mut v: Vec<_> = self
                .plan
                .households
                .iter()
                .filter(|(c, _)| c.starts_with(&code))
                .collect();
            v.sort();
            v
        };

        let chief = if place.ends_with('乡') {
            "乡长"
        } else if place.ends_with('镇') {
            "镇长"
        } else if place.ends_with("街道") {
            "街道办事处主任"
        } else if place.ends_with('所') {
            "所长"
        } else {
            "场长"
        };
        let lead: Vec<String> = [
            "党委书记",
            chief,
            "党委副书记",
            "综治中心主任",
            "综治专干",
            "综治专干",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        self.centre_cadres(node, &lead, None, &mut phones, &mut rng);
        let baocun: Vec<String> = (0..(villages.len() * 2).max(2))
            .map(|_| "包村干部".to_owned())
            .collect();
        let village_cadres = self.centre_cadres(node, &baocun, None, &mut phones, &mut rng);

        // 驻寺干部: one per monastery of the township that has a paired cadre.
        let mut monastery_cadres = HashMap::new();
        for (vcode, _) in &villages {
            let planned = self.plan.monasteries.get(vcode.as_str());
            for (i, m) in planned.into_iter().flatten().enumerate() {
                if !m.paired {
                    continue;
                }
                let ids = self.centre_cadres(
                    node,
                    &["驻寺干部".to_owned()],
                    Some(Force::HarmoniousMonasteries),
                    &mut phones,
                    &mut rng,
                );
                monastery_cadres.insert(((*vcode).clone(), i), ids[0]);
            }
        }

        for dept in TOWNSHIP_DEPARTMENTS {
            let titles: &[&str] = match dept.slug {
                "police" => &["所长", "副所长", "民警", "民警", "辅警"],
                _ => &["司法所所长", "司法助理员", "人民调解员"],
            };
            self.department(
                node,
                dept.slug,
                format!("{place}{}", dept.name),
                titles,
                &mut phones,
            );
        }

        // 两代表一委员 living in the township.
        let seat = if self.plan.short(county).ends_with('市') {
            "市"
        } else {
            "县"
        };
        // Townships have a people's congress of their own; street offices and farms do not.
        let local = if place.ends_with('乡') {
            "乡"
        } else if place.ends_with('镇') {
            "镇"
        } else {
            seat
        };
        let deputy_titles = [
            "州人大代表".to_owned(),
            format!("{seat}人大代表"),
            format!("{seat}人大代表"),
            format!("{local}人大代表"),
            format!("{seat}政协委员"),
            "州政协委员".to_owned(),
            format!("{seat}党代表"),
        ];
        for _ in 0..between(&mut rng, 3, 6) {
            let gender = male_with(&mut rng, 0.6);
            let name = stranger(&mut rng, county, gender);
            let mut forces = vec![Force::Deputies];
            if chance(&mut rng, 0.3) {
                forces.push(Force::PartyBuilding);
            }
            let title = pick(&mut rng, &deputy_titles).clone();
            self.add_member(NewMember {
                name,
                gender,
                phone: phones.take(),
                forces,
                unit: code.clone(),
                territory: node.code.clone(),
                title,
            });
        }
        self.township = TownshipState {
            village_cadres,
            monastery_cadres,
        };
    }

    /// A village with its grids, groups, households, members, monasteries, enterprises,
    /// pairings and accounts.
    fn village(&mut self, node: &Node) {
        let code = node.code.as_str().to_owned();
        let county = county_of(&node.code).to_owned();
        let kind = village_kind(&node.code);
        let mut rng = rng_for(&code, SALT_NODE);
        let mix = village_mix(&mut rng, &county, kind);
        let mut v = VillageRun {
            code: node.code.clone(),
            county,
            short: self.plan.short(&code).to_owned(),
            kind,
            mix,
            rng,
            phones: self.phones(&code),
            picker: Picker::default(),
            grids: Vec::new(),
            party: Vec::new(),
        };
        self.out.nodes.push(node.clone());
        self.centre(node);
        self.grids_and_households(node, &mut v);
        self.village_members(&mut v);
        self.grid_people(&mut v);
        self.care_pairings(&mut v);
        self.monasteries(&mut v);
        self.enterprises(&mut v);
        self.village_pairings(&mut v);
    }

    /// The village's grids (≈ 100 households each) with their joint-defence groups and
    /// households, a few of them not yet in a group.
    fn grids_and_households(&mut self, node: &Node, v: &mut VillageRun) {
        let code = v.code.as_str();
        let total = self.plan.households.get(code).copied().unwrap_or(0);
        let n_grids = ((total + HOUSEHOLDS_PER_GRID / 2) / HOUSEHOLDS_PER_GRID).max(1);
        let cells = gannan::grid_cells(node, n_grids as usize);
        assert_eq!(cells.len(), n_grids as usize, "grid cells of {code}");
        let county = self.plan.short(&v.county);
        let township = self.plan.short(&code[..9]);
        // A virtual area is already named after its township ("河曲马场生活区").
        let address_prefix = if v.short.starts_with(township) {
            format!("{county}{}", v.short)
        } else {
            format!("{county}{township}{}", v.short)
        };
        let mut house_no = 0;
        for (gi, Cell { seat, shape }) in cells.into_iter().enumerate() {
            let grid_code = v.code.child_seq(gi as u32 + 1);
            let grid_name = format!("{}第{}网格", v.short, gi + 1);
            let size = total / n_grids + u32::from((gi as u32) < total % n_grids);
            // Locations draw from their own stream, so that names and counts do not depend on
            // the shapes of the grids.
            let mut place_rng = rng_for(grid_code.as_str(), SALT_LOCATION);
            let mut grouped = Vec::new();
            let mut ungrouped = Vec::new();
            for _ in 0..size {
                house_no += 1;
                let address = format!("{address_prefix}{house_no}号");
                let mut hh = household(
                    &mut v.rng,
                    &v.county,
                    &v.mix,
                    &grid_code,
                    &address,
                    &mut v.phones,
                );
                hh.location = Some(point_in(&mut place_rng, &shape, seat));
                if chance(&mut v.rng, UNGROUPED_SHARE) {
                    ungrouped.push(hh);
                } else {
                    grouped.push(hh);
                }
            }
            let sizes = group_sizes(&mut v.rng, grouped.len());
            self.out.nodes.push(Node {
                code: grid_code.clone(),
                name: grid_name.clone(),
                name_bo: None,
                geometry: Some(shape),
                geometry_source: Some(GeometrySource::Generated),
            });
            self.out.units.push(Unit {
                code: grid_code.as_str().to_owned(),
                name: grid_name.clone(),
                kind: UnitKind::Grid,
                territory: grid_code.clone(),
            });
            let first = self.out.households.len();
            let mut groups = Vec::new();
            let mut grouped = grouped.into_iter();
            for (k, n) in sizes.into_iter().enumerate() {
                let group_code = grid_code.child_seq(k as u32 + 1);
                self.out.nodes.push(Node {
                    code: group_code.clone(),
                    name: format!("{grid_name}第{}联防组", k + 1),
                    name_bo: None,
                    geometry: None,
                    geometry_source: None,
                });
                let start = self.out.households.len();
                for mut hh in grouped.by_ref().take(n) {
                    hh.group = Some(group_code.clone());
                    self.add_household(hh);
                }
                groups.push((group_code, start..self.out.households.len()));
            }
            for hh in ungrouped {
                self.add_household(hh);
            }
            v.grids.push(GridRun {
                code: grid_code,
                households: first..self.out.households.len(),
                groups,
                worker: 0,
            });
        }
    }

    fn add_household(&mut self, mut hh: Household) {
        hh.id = self.out.households.len() as i64 + 1;
        self.out.households.push(hh);
    }

    /// Party branch, civilised-village, beautiful-home, militia and monastery members: residents
    /// of the village, in numbers that grow with it.
    fn village_members(&mut self, v: &mut VillageRun) {
        let total = v.households().len() as u32;
        let community = v.kind == VillageKind::Community;
        let pastoral = matches!(v.county.as_str(), "623025" | "623026" | "623027");
        let village = v.code.clone();
        let seat = |title: &'static str, forces: Vec<Force>, ages: (i32, i32), male: f64| Seat {
            title,
            forces,
            ages,
            male_share: male,
            unit: village.as_str().to_owned(),
            territory: village.clone(),
        };

        for i in 0..5 + total / 40 {
            let title = match (i, community) {
                (0, true) => "社区党委书记",
                (0, false) => "村党支部书记",
                (1, true) => "社区党委副书记",
                (1, false) => "村党支部副书记",
                (2 | 3, _) => "支部委员",
                _ => "党员中心户",
            };
            let mut forces = vec![Force::PartyBuilding];
            if i == 0 || chance(&mut v.rng, 0.15) {
                forces.push(Force::CivilisedVillages);
            }
            let range = v.households();
            let id = self.resident_member(v, range, seat(title, forces, (25, 65), 0.7));
            v.party.push(id);
        }
        for i in 0..3 + total / 80 {
            let title = match (i, community) {
                (0, true) => "社区居委会主任",
                (0, false) => "村委会主任",
                (1, _) => "村务监督委员会主任",
                (2, _) => "红白理事会会长",
                _ => *pick(&mut v.rng, &["道德评议会成员", "乡贤", "文明实践志愿者"]),
            };
            let range = v.households();
            let forces = vec![Force::CivilisedVillages];
            self.resident_member(v, range, seat(title, forces, (25, 70), 0.6));
        }
        let beauty: &[&'static str] = if community {
            &["保洁员", "环境卫生监督员", "垃圾分类督导员"]
        } else if pastoral {
            &["草原管护员", "生态护林员", "保洁员", "河道巡查员"]
        } else {
            &["生态护林员", "保洁员", "河道巡查员", "地质灾害群测群防员"]
        };
        for _ in 0..5 + total / 40 {
            let title = *pick(&mut v.rng, beauty);
            let range = v.households();
            let forces = vec![Force::BeautifulHomes];
            self.resident_member(v, range, seat(title, forces, (22, 62), 0.6));
        }
        for i in 0..between(&mut v.rng, 12, 15) {
            let title = match i {
                0 => "民兵连长",
                1 | 2 => "民兵排长",
                _ => "基干民兵",
            };
            let mut forces = vec![Force::Militia];
            if chance(&mut v.rng, 0.1) {
                forces.push(Force::JointDefence);
            }
            let range = v.households();
            self.resident_member(v, range, seat(title, forces, (18, 45), 0.9));
        }
        if self.plan.monasteries.contains_key(v.code.as_str()) {
            let range = v.households();
            let forces = vec![Force::HarmoniousMonasteries];
            self.resident_member(v, range, seat("寺庙联络员", forces, (30, 65), 0.8));
        }
    }

    /// Per grid: the grid worker and the household heads, their accounts and pairings, and the
    /// township cadre paired with the grid (入格联户).
    fn grid_people(&mut self, v: &mut VillageRun) {
        for gi in 0..v.grids.len() {
            let grid = v.grids[gi].code.clone();
            let mut forces = vec![Force::JointDefence];
            if chance(&mut v.rng, 0.4) {
                forces.push(Force::PartyBuilding);
            }
            let seat = Seat {
                title: "专职网格员",
                forces,
                ages: (22, 50),
                male_share: 0.55,
                unit: grid.as_str().to_owned(),
                territory: grid.clone(),
            };
            let range = v.grids[gi].households.clone();
            let worker = self.resident_member(v, range, seat);
            v.grids[gi].worker = worker;
            let name = self.member_name(worker);
            self.account(
                format!("worker-{grid}"),
                name,
                Role::GridWorker,
                &grid,
                Some(grid.as_str().to_owned()),
                Some(worker),
            );
            let start = start_date(&mut v.rng);
            self.pair_member(
                PairingKind::GridHouseholds,
                worker,
                territory(&grid),
                start,
                None,
            );

            let cadres = self.township.village_cadres.clone();
            if !cadres.is_empty() {
                let cadre = *pick(&mut v.rng, &cadres);
                if chance(&mut v.rng, 0.04) {
                    // The grid changed hands: the earlier pairing stays as history.
                    let before = *pick(&mut v.rng, &cadres);
                    let from = day(2024, 1, 1) + Days::new(below(&mut v.rng, 180) as u64);
                    let to = day(2024, 12, 31) + Days::new(below(&mut v.rng, 180) as u64);
                    let target = territory(&grid);
                    self.pair_member(PairingKind::GridHouseholds, before, target, from, Some(to));
                    let start = to + Days::new(1);
                    self.pair_member(
                        PairingKind::GridHouseholds,
                        cadre,
                        territory(&grid),
                        start,
                        None,
                    );
                } else {
                    let start = start_date(&mut v.rng);
                    self.pair_member(
                        PairingKind::GridHouseholds,
                        cadre,
                        territory(&grid),
                        start,
                        None,
                    );
                }
            }

            for k in 0..v.grids[gi].groups.len() {
                let (group, range) = v.grids[gi].groups[k].clone();
                let mut forces = vec![Force::JointDefence];
                if chance(&mut v.rng, 0.1) {
                    forces.push(Force::PartyBuilding);
                }
                let head = self.group_head(v, range, forces, &grid, &group);
                self.out.group_heads.push((group.clone(), head));
                let name = self.member_name(head);
                self.account(
                    format!("head-{group}"),
                    name,
                    Role::HouseholdHead,
                    &group,
                    None,
                    Some(head),
                );
                let start = start_date(&mut v.rng);
                self.pair_member(
                    PairingKind::GridHouseholds,
                    head,
                    territory(&group),
                    start,
                    None,
                );
                // A few groups also have a county cadre (入格联户 from above).
                if chance(&mut v.rng, 0.05) && !self.county.cadres.is_empty() {
                    let cadre = *pick(&mut v.rng, &self.county.cadres);
                    let start = start_date(&mut v.rng);
                    self.pair_member(
                        PairingKind::GridHouseholds,
                        cadre,
                        territory(&group),
                        start,
                        None,
                    );
                }
            }
        }
    }

    /// 结对关爱: about 95% of the households needing care have a paired member (their grid
    /// worker, a party member of the village or a township cadre); the rest are gaps.
    fn care_pairings(&mut self, v: &mut VillageRun) {
        for gi in 0..v.grids.len() {
            for i in v.grids[gi].households.clone() {
                if !self.out.households[i].care || !chance(&mut v.rng, 0.95) {
                    continue;
                }
                let cadres = &self.township.village_cadres;
                let member = match weighted(&mut v.rng, &[50, 30, 20]) {
                    1 if !v.party.is_empty() => *pick(&mut v.rng, &v.party),
                    2 if !cadres.is_empty() => *pick(&mut v.rng, cadres),
                    _ => v.grids[gi].worker,
                };
                let start = start_date(&mut v.rng);
                let target = PairingTarget::Household(self.out.households[i].id);
                self.pair_member(PairingKind::Care, member, target, start, None);
            }
        }
    }

    /// The village's monasteries and their paired cadres (联寺包僧): the township's 驻寺干部
    /// and sometimes a cadre of the county's religious affairs bureau.
    fn monasteries(&mut self, v: &mut VillageRun) {
        let planned = self.plan.monasteries.get(v.code.as_str());
        for (i, m) in planned.into_iter().flatten().enumerate() {
            let id = self.out.monasteries.len() as i64 + 1;
            self.out.monasteries.push(Monastery {
                id,
                name: m.name.clone(),
                territory: v.code.clone(),
                monks: m.monks,
            });
            let key = (v.code.as_str().to_owned(), i);
            let Some(&cadre) = self.township.monastery_cadres.get(&key) else {
                continue;
            };
            let start = start_date(&mut v.rng);
            let target = PairingTarget::Monastery(id);
            self.pair_member(PairingKind::Monastery, cadre, target.clone(), start, None);
            if chance(&mut v.rng, 0.3) && !self.county.religious_cadres.is_empty() {
                let other = *pick(&mut v.rng, &self.county.religious_cadres);
                let start = start_date(&mut v.rng);
                self.pair_member(PairingKind::Monastery, other, target, start, None);
            }
        }
    }

    /// Enterprises: a few per town community, a cooperative in some villages; about 90% have
    /// a paired cadre (企业包联).
    fn enterprises(&mut self, v: &mut VillageRun) {
        let community = v.kind == VillageKind::Community;
        let n = match v.kind {
            VillageKind::Community => between(&mut v.rng, 2, 5),
            VillageKind::VillageCommittee => i32::from(chance(&mut v.rng, 0.3)),
            VillageKind::VirtualArea => 0,
        };
        for _ in 0..n {
            let name = self.enterprise_name(&mut v.rng, &v.county, &v.short, community);
            let employees = if community {
                between(&mut v.rng, 5, 120)
            } else {
                between(&mut v.rng, 5, 40)
            };
            let id = self.out.enterprises.len() as i64 + 1;
            self.out.enterprises.push(Enterprise {
                id,
                name,
                territory: v.code.clone(),
                employees,
            });
            if !chance(&mut v.rng, 0.9) {
                continue;
            }
            let township = !self.township.village_cadres.is_empty() && chance(&mut v.rng, 0.6);
            let pool = if township {
                &self.township.village_cadres
            } else {
                &self.county.cadres
            };
            if !pool.is_empty() {
                let cadre = *pick(&mut v.rng, pool);
                let start = start_date(&mut v.rng);
                let target = PairingTarget::Enterprise(id);
                self.pair_member(PairingKind::Enterprise, cadre, target, start, None);
            }
        }
    }

    /// 部门包村 (a county department for about 98% of villages, sometimes after a prefecture
    /// department) and 支部联建 (a department's party branch with some villages).
    fn village_pairings(&mut self, v: &mut VillageRun) {
        let target = territory(&v.code);
        let departments = &self.county.departments;
        if !departments.is_empty() && !self.plan.unpaired_villages.contains(v.code.as_str()) {
            let handed_over = !self.prefecture_departments.is_empty() && chance(&mut v.rng, 0.05);
            let start = if handed_over {
                let earlier = pick(&mut v.rng, &self.prefecture_departments).clone();
                let from = day(2024, 1, 1) + Days::new(below(&mut v.rng, 120) as u64);
                let to = day(2024, 12, 31);
                self.pair_unit(
                    PairingKind::DepartmentVillage,
                    earlier,
                    target.clone(),
                    from,
                    Some(to),
                );
                to + Days::new(1 + below(&mut v.rng, 200) as u64)
            } else {
                start_date(&mut v.rng)
            };
            let dept = pick(&mut v.rng, &self.county.departments).clone();
            self.pair_unit(
                PairingKind::DepartmentVillage,
                dept,
                target.clone(),
                start,
                None,
            );
        }
        if !self.county.departments.is_empty() && chance(&mut v.rng, 0.3) {
            let upper = !self.prefecture_departments.is_empty() && chance(&mut v.rng, 0.2);
            let pool = if upper {
                &self.prefecture_departments
            } else {
                &self.county.departments
            };
            let dept = pick(&mut v.rng, pool).clone();
            let start = start_date(&mut v.rng);
            self.pair_unit(PairingKind::PartyBranch, dept, target, start, None);
        }
    }

    fn pair_member(
        &mut self,
        kind: PairingKind,
        member: i64,
        target: PairingTarget,
        start: NaiveDate,
        end: Option<NaiveDate>,
    ) {
        self.add_pairing(kind, PairingSubject::Member(member), target, start, end);
    }

    fn pair_unit(
        &mut self,
        kind: PairingKind,
        unit: String,
        target: PairingTarget,
        start: NaiveDate,
        end: Option<NaiveDate>,
    ) {
        self.add_pairing(kind, PairingSubject::Unit(unit), target, start, end);
    }

    fn member_name(&self, id: i64) -> String {
        self.out.members[id as usize - 1].name.clone()
    }

    /// A member who lives in one of the households in `range`, picked to fit the seat's ages
    /// and gender (or, if nobody fits, a neighbour with no household in the data set).
    fn resident_member(&mut self, v: &mut VillageRun, range: Range<usize>, seat: Seat) -> i64 {
        let gender = male_with(&mut v.rng, seat.male_share);
        let (lo, hi) = seat.ages;
        let of_age = |r: &Resident| (lo..=hi).contains(&(BASE_YEAR - r.birth_year));
        let households = &self.out.households;
        let found = v
            .picker
            .pick(&mut v.rng, households, range.clone(), |r| {
                of_age(r) && r.gender == gender
            })
            .or_else(|| v.picker.pick(&mut v.rng, households, range, of_age));
        self.seat_member(v, found, gender, seat)
    }

    /// The household head (联户长) of a group: an adult of one of its households, a 户主 if
    /// one fits.
    fn group_head(
        &mut self,
        v: &mut VillageRun,
        range: Range<usize>,
        forces: Vec<Force>,
        grid: &TerritoryCode,
        group: &TerritoryCode,
    ) -> i64 {
        let n = range.len().max(1);
        let offset = below(&mut v.rng, n);
        let order: Vec<usize> = (0..range.len())
            .map(|k| range.start + (k + offset) % n)
            .collect();
        let fits = |pass: usize, r: usize, res: &Resident| {
            let age = BASE_YEAR - res.birth_year;
            if pass == 0 {
                r == 0 && (25..=65).contains(&age)
            } else {
                (20..=72).contains(&age)
            }
        };
        let found = (0..2).find_map(|pass| {
            order.iter().find_map(|&h| {
                let residents = &self.out.households[h].residents;
                (0..residents.len())
                    .find(|&r| fits(pass, r, &residents[r]) && !v.picker.used.contains(&(h, r)))
                    .map(|r| (h, r))
            })
        });
        if let Some(key) = found {
            v.picker.used.insert(key);
        }
        let seat = Seat {
            title: "联户长",
            forces,
            ages: (25, 65),
            male_share: 0.8,
            unit: grid.as_str().to_owned(),
            territory: group.clone(),
        };
        let gender = male_with(&mut v.rng, seat.male_share);
        self.seat_member(v, found, gender, seat)
    }

    /// Adds the member for `seat`: the resident `found` (household index, resident index), or
    /// else someone from outside the data set of the given gender.
    fn seat_member(
        &mut self,
        v: &mut VillageRun,
        found: Option<(usize, usize)>,
        gender: Gender,
        seat: Seat,
    ) -> i64 {
        let (name, gender, phone) = match found {
            Some((h, r)) => {
                let hh = &self.out.households[h];
                let res = &hh.residents[r];
                // The 户主 answers the household's phone; anyone else has a phone of their own.
                let phone = if r == 0 {
                    hh.phone.clone()
                } else {
                    v.phones.take()
                };
                (res.name.clone(), res.gender, phone)
            }
            None => {
                let name = stranger(&mut v.rng, &v.county, gender);
                (name, gender, v.phones.take())
            }
        };
        self.add_member(NewMember {
            name,
            gender,
            phone,
            forces: seat.forces,
            unit: seat.unit,
            territory: seat.territory,
            title: seat.title.to_owned(),
        })
    }

    fn enterprise_name(
        &mut self,
        rng: &mut Rng,
        county: &str,
        short: &str,
        community: bool,
    ) -> String {
        #[rustfmt::skip]
        const WORDS: &[&str] = &[
            "格桑", "雪域", "香巴拉", "吉祥", "扎西", "德吉", "安多", "高原", "草原", "雪莲",
            "牦牛", "雪山", "洮河", "白龙江", "黄河首曲", "甘南", "羚城", "圣湖", "花海", "青稞",
        ];
        #[rustfmt::skip]
        const COMPANIES: &[&str] = &[
            "商贸有限公司", "藏式酒店", "民族用品有限责任公司", "建筑工程有限公司",
            "旅游文化有限公司", "乳制品有限公司", "运输有限公司", "餐饮管理有限公司",
            "藏医药有限公司", "物业服务有限公司",
        ];
        #[rustfmt::skip]
        const PASTORAL: &[&str] = &[
            "牦牛养殖专业合作社", "藏羊养殖专业合作社", "农牧民专业合作社", "家庭牧场", "藏式民宿",
            "畜产品加工厂",
        ];
        #[rustfmt::skip]
        const FARMING: &[&str] = &[
            "中药材种植专业合作社", "花椒种植专业合作社", "蔬菜种植专业合作社",
            "青稞种植专业合作社", "农家乐", "养殖专业合作社", "砂石料厂",
        ];
        let stem = place_stem(short);
        for attempt in 0..20 {
            let name = if community {
                format!(
                    "{}{}{}",
                    self.plan.short(county),
                    pick(rng, WORDS),
                    pick(rng, COMPANIES)
                )
            } else {
                let kinds = if matches!(county, "623025" | "623026" | "623027" | "623024") {
                    PASTORAL
                } else {
                    FARMING
                };
                let kind = pick(rng, kinds);
                if attempt == 0 {
                    format!("{}{stem}{kind}", self.plan.short(county))
                } else {
                    format!(
                        "{}{stem}{}{kind}",
                        self.plan.short(county),
                        pick(rng, WORDS)
                    )
                }
            };
            if self.enterprise_names.insert(name.clone()) {
                return name;
            }
        }
        let name = format!("{}{}号企业", short, self.enterprise_names.len());
        self.enterprise_names.insert(name.clone());
        name
    }
}

/// The county a code belongs to (the prefecture for the prefecture).
fn county_of(code: &TerritoryCode) -> &str {
    &code.as_str()[..6]
}

/// A village being generated: its random stream, phones and the seats already given.
struct VillageRun {
    code: TerritoryCode,
    county: String,
    short: String,
    kind: VillageKind,
    /// Per-mille Tibetan, Han and Hui shares of its households.
    mix: [u32; 3],
    rng: Rng,
    phones: Phones,
    picker: Picker,
    grids: Vec<GridRun>,
    /// Party-branch members, for care pairings.
    party: Vec<i64>,
}

impl VillageRun {
    /// Indices of the village's households in `DemoData::households`.
    fn households(&self) -> Range<usize> {
        match (self.grids.first(), self.grids.last()) {
            (Some(a), Some(b)) => a.households.start..b.households.end,
            _ => 0..0,
        }
    }
}

struct GridRun {
    code: TerritoryCode,
    households: Range<usize>,
    groups: Vec<(TerritoryCode, Range<usize>)>,
    /// Member id of the grid worker, once chosen.
    worker: i64,
}

/// A post to fill with a member.
struct Seat {
    title: &'static str,
    forces: Vec<Force>,
    /// Youngest and oldest age that fits.
    ages: (i32, i32),
    male_share: f64,
    unit: String,
    territory: TerritoryCode,
}

fn territory(code: &TerritoryCode) -> PairingTarget {
    PairingTarget::Territory(code.clone())
}

/// Picks residents so that nobody is given two seats.
#[derive(Default)]
struct Picker {
    used: HashSet<(usize, usize)>,
}

impl Picker {
    fn pick(
        &mut self,
        rng: &mut Rng,
        households: &[Household],
        range: Range<usize>,
        fits: impl Fn(&Resident) -> bool,
    ) -> Option<(usize, usize)> {
        if range.is_empty() {
            return None;
        }
        for _ in 0..64 {
            let h = range.start + below(rng, range.len());
            let residents = &households[h].residents;
            let r = below(rng, residents.len());
            if fits(&residents[r]) && self.used.insert((h, r)) {
                return Some((h, r));
            }
        }
        None
    }
}

/// Sizes of the joint-defence groups of a grid: 8–12 households each, about 10 (a grid of
/// fewer than 16 households, which the plan never makes, gets one group).
fn group_sizes(rng: &mut Rng, households: usize) -> Vec<usize> {
    if households == 0 {
        return Vec::new();
    }
    if households < 16 {
        return vec![households];
    }
    let lo = households.div_ceil(12);
    let hi = (households / 8).max(lo);
    let k = ((households + 5) / 10).clamp(lo, hi);
    let mut sizes = vec![households / k; k];
    for s in sizes.iter_mut().take(households % k) {
        *s += 1;
    }
    for _ in 0..k {
        let (a, b) = (below(rng, k), below(rng, k));
        if a != b && sizes[a] < 12 && sizes[b] > 8 {
            sizes[a] += 1;
            sizes[b] -= 1;
        }
    }
    sizes
}

/// Number of residents: 1–7, mean 3.3.
const HOUSEHOLD_SIZE_WEIGHTS: [u32; 7] = [12, 21, 25, 21, 12, 6, 3];

/// A household of a grid (id, group and location are set by the caller).
fn household(
    rng: &mut Rng,
    county: &str,
    mix: &[u32; 3],
    grid: &TerritoryCode,
    address: &str,
    phones: &mut Phones,
) -> Household {
    let eth = ethnicity_in(rng, mix);
    let size = 1 + weighted(rng, &HOUSEHOLD_SIZE_WEIGHTS);
    let residents = residents(rng, eth, size);
    let head = &residents[0];
    let id_number = id_number(rng, county, head.birth_year, head.gender);
    let old_alone = size == 1 && BASE_YEAR - head.birth_year >= 65;
    let care = chance(rng, if old_alone { 0.4 } else { 0.04 });
    Household {
        id: 0,
        group: None,
        grid: grid.clone(),
        head_name: head.name.clone(),
        address: address.to_owned(),
        phone: phones.take(),
        id_number,
        residents,
        care,
        location: None,
    }
}

/// A point inside `shape`, by rejection sampling in its bounding box (the seat if that fails).
fn point_in(rng: &mut Rng, shape: &MultiPolygon<f64>, seat: Point<f64>) -> (f64, f64) {
    if let Some(bbox) = shape.bounding_rect() {
        for _ in 0..1000 {
            let x = bbox.min().x + unit(rng) * bbox.width();
            let y = bbox.min().y + unit(rng) * bbox.height();
            if shape.contains(&Point::new(x, y)) {
                return (x, y);
            }
        }
    }
    (seat.x(), seat.y())
}

/// The residents of a household of `size`: 户主 first, then 配偶, 父母, 子女, 孙子女.
fn residents(rng: &mut Rng, eth: Ethnicity, size: usize) -> Vec<Resident> {
    let head_age = if size == 1 {
        between(rng, 24, 86)
    } else {
        between(rng, 25, 76)
    };
    let head_gender = male_with(rng, if size == 1 { 0.5 } else { 0.8 });
    let head_family = surname(rng, eth);
    let mut out = Vec::with_capacity(size);
    let push = |out: &mut Vec<Resident>,
                rng: &mut Rng,
                relation: &str,
                age: i32,
                g: Gender,
                family: &str| {
        out.push(Resident {
            name: person_name(rng, eth, g, family),
            relation: relation.to_owned(),
            birth_year: BASE_YEAR - age.max(0),
            gender: g,
        });
    };
    push(&mut out, rng, "户主", head_age, head_gender, head_family);
    let mut family = head_family;
    if out.len() < size && chance(rng, 0.88) {
        let g = other(head_gender);
        let age = (head_age + between(rng, -4, 5)).clamp(20, 90);
        let spouse_family = surname(rng, eth);
        if head_gender == Gender::Female {
            family = spouse_family;
        }
        push(&mut out, rng, "配偶", age, g, spouse_family);
    }
    if head_age < 50 && out.len() + 1 < size && chance(rng, 0.3) {
        let age = (head_age + between(rng, 22, 32)).min(92);
        push(&mut out, rng, "父母", age, Gender::Male, head_family);
        if out.len() < size && chance(rng, 0.6) {
            let mother = surname(rng, eth);
            let mother_age = (age - between(rng, 0, 5)).max(head_age + 18);
            push(&mut out, rng, "父母", mother_age, Gender::Female, mother);
        }
    }
    if head_age >= 58 && size - out.len() >= 2 && chance(rng, 0.6) {
        // Grown children and their children.
        let child_age = head_age - between(rng, 22, 32);
        let g = male_with(rng, 0.6);
        push(&mut out, rng, "子女", child_age, g, family);
        while out.len() < size {
            let g = male_with(rng, 0.5);
            let age = between(rng, 0, (child_age - 19).max(0));
            push(&mut out, rng, "孙子女", age, g, family);
        }
    }
    while out.len() < size {
        let g = male_with(rng, 0.52);
        let oldest = (head_age - 19).max(0);
        let age = between(rng, (head_age - 42).clamp(0, oldest), oldest);
        push(&mut out, rng, "子女", age, g, family);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use chrono::Datelike;

    use super::*;

    fn code(s: &str) -> TerritoryCode {
        TerritoryCode::parse(s).unwrap()
    }

    fn full() -> &'static DemoData {
        static DATA: OnceLock<DemoData> = OnceLock::new();
        DATA.get_or_init(|| generate(Scale::Full))
    }

    fn small() -> &'static DemoData {
        static DATA: OnceLock<DemoData> = OnceLock::new();
        DATA.get_or_init(|| generate(Scale::Small))
    }

    fn count(d: &DemoData, level: Level) -> usize {
        d.nodes.iter().filter(|n| n.level() == level).count()
    }

    #[test]
    fn full_scale_has_gannan_figures() {
        let d = full();
        assert_eq!(d.households.len(), TOTAL_HOUSEHOLDS as usize);
        assert_eq!(count(d, Level::Prefecture), 1);
        assert_eq!(count(d, Level::County), 8);
        assert_eq!(count(d, Level::Village), 697);
        let grids = count(d, Level::Grid);
        assert!((1_500..=3_500).contains(&grids), "{grids} grids");
        let groups = count(d, Level::Group);
        assert!((20_000..=21_500).contains(&groups), "{groups} groups");
        assert_eq!(d.group_heads.len(), groups);
        assert!(d.members.len() >= 56_000, "{} members", d.members.len());
        assert!((100..=140).contains(&d.monasteries.len()));
        assert!((200..=600).contains(&d.enterprises.len()));
        let care = d.households.iter().filter(|h| h.care).count();
        assert!((8_000..=13_000).contains(&care), "{care} care households");
        let residents: usize = d.households.iter().map(|h| h.residents.len()).sum();
        let mean = residents as f64 / d.households.len() as f64;
        assert!((3.1..=3.5).contains(&mean), "mean household size {mean}");
        for force in Force::ALL {
            assert!(
                d.members.iter().any(|m| m.forces.contains(&force)),
                "{force:?}"
            );
        }
        assert!(d.members.iter().any(|m| m.forces.len() > 1));
        for kind in PairingKind::ALL {
            assert!(d.pairings.iter().any(|p| p.kind == kind), "{kind:?}");
        }
        assert!(d.pairings.iter().any(|p| p.end.is_some()));
        assert!(
            d.pairings
                .iter()
                .all(|p| (2024..=2025).contains(&p.start.year())
                    && p.end.is_none_or(|e| e > p.start && e < day(2026, 1, 1)))
        );
    }

    #[test]
    fn full_scale_has_every_contract_account() {
        let d = full();
        let names: HashSet<&str> = d.accounts.iter().map(|a| a.username.as_str()).collect();
        assert_eq!(names.len(), d.accounts.len(), "usernames are unique");
        for n in d.nodes.iter().filter(|n| n.level().has_centre()) {
            assert!(names.contains(format!("center-{}", n.code).as_str()));
            assert!(names.contains(format!("leader-{}", n.code).as_str()));
        }
        for n in &d.nodes {
            match n.level() {
                Level::Grid => assert!(names.contains(format!("worker-{}", n.code).as_str())),
                Level::Group => assert!(names.contains(format!("head-{}", n.code).as_str())),
                _ => {}
            }
        }
        for u in d.units.iter().filter(|u| u.kind == UnitKind::Department) {
            assert!(names.contains(format!("handler-{}", u.code).as_str()));
        }
        let departments = d
            .units
            .iter()
            .filter(|u| u.kind == UnitKind::Department)
            .count();
        assert_eq!(
            departments,
            9 * UPPER_DEPARTMENTS.len() + 102 * TOWNSHIP_DEPARTMENTS.len()
        );
        assert_eq!(
            d.accounts.len(),
            1 + 2 * 808 + departments + count(d, Level::Grid) + count(d, Level::Group)
        );
    }

    #[test]
    fn sample_accounts_are_as_the_contract_says() {
        for d in [full(), small()] {
            let acc = |u: &str| {
                d.accounts
                    .iter()
                    .find(|a| a.username == u)
                    .unwrap_or_else(|| panic!("{u} missing"))
            };
            let admin = acc("admin");
            assert_eq!((admin.role, admin.scope.as_str()), (Role::Admin, "623000"));
            for c in ["623000", "623027", "623027202", "623027202201"] {
                let centre = acc(&format!("center-{c}"));
                assert_eq!(centre.role, Role::CenterOperator);
                assert_eq!(centre.unit.as_deref(), Some(c));
                assert_eq!(centre.scope.as_str(), c);
                assert_eq!(acc(&format!("leader-{c}")).role, Role::Leader);
            }
            let handler = acc("handler-623027-police");
            assert_eq!(handler.role, Role::DepartmentHandler);
            assert_eq!(handler.scope.as_str(), "623027");
            assert_eq!(handler.unit.as_deref(), Some("623027-police"));
            assert_eq!(acc("handler-623000-police").scope.as_str(), "623000");
            assert_eq!(acc("handler-623027202-justice").scope.as_str(), "623027202");

            let grid = "623027202201001";
            let worker = acc(&format!("worker-{grid}"));
            assert_eq!(worker.role, Role::GridWorker);
            assert_eq!(worker.unit.as_deref(), Some(grid));
            let member = &d.members[worker.member.unwrap() as usize - 1];
            assert_eq!(member.title, "专职网格员");
            assert_eq!(member.name, worker.display_name);
            let head = acc(&format!("head-{grid}001"));
            assert_eq!(head.role, Role::HouseholdHead);
            assert_eq!(head.scope.as_str(), format!("{grid}001"));
            let member = &d.members[head.member.unwrap() as usize - 1];
            assert_eq!(member.title, "联户长");
            assert!(member.forces.contains(&Force::JointDefence));
        }
    }

    #[test]
    fn units_follow_the_contract() {
        let d = small();
        let unit = |c: &str| d.units.iter().find(|u| u.code == c).unwrap();
        assert_eq!(unit("623000").name, "甘南州综治中心");
        assert_eq!(unit("623027").name, "夏河县综治中心");
        assert_eq!(unit("623027202").kind, UnitKind::Center);
        assert_eq!(unit("623027-police").name, "夏河县公安局");
        assert_eq!(unit("623000-police").name, "甘南州公安局");
        assert_eq!(unit("623027202-police").name, "达麦乡派出所");
        assert_eq!(unit("623027202-justice").name, "达麦乡司法所");
        assert_eq!(unit("623027202201001").name, "达麦村第1网格");
        assert_eq!(unit("623027202201001").kind, UnitKind::Grid);
        let codes: HashSet<&str> = d.units.iter().map(|u| u.code.as_str()).collect();
        assert_eq!(codes.len(), d.units.len(), "unit codes are unique");
        for n in &d.nodes {
            let has = codes.contains(n.code.as_str());
            assert_eq!(has, n.level() != Level::Group, "{}", n.code);
        }
        for m in &d.members {
            assert!(
                codes.contains(m.unit.as_str()),
                "{} works for {}",
                m.name,
                m.unit
            );
        }
    }

    #[test]
    fn nodes_come_parents_first_with_grid_shapes() {
        let d = small();
        let mut seen = HashSet::new();
        for n in &d.nodes {
            if let Some(p) = n.parent() {
                assert!(seen.contains(&p), "{} before its parent", n.code);
            }
            assert!(seen.insert(n.code.clone()), "{} twice", n.code);
            match n.level() {
                Level::Grid => assert!(n.geometry.is_some()),
                Level::Group => assert!(n.geometry.is_none()),
                _ => {}
            }
        }
        assert!(d.nodes.windows(2).all(|w| w[0].code < w[1].code));
        assert_eq!(count(d, Level::Prefecture), 1);
        assert_eq!(count(d, Level::County), 1);
        assert!(
            d.nodes
                .iter()
                .skip(1)
                .all(|n| n.code.as_str().starts_with(SMALL_COUNTY))
        );
    }

    #[test]
    fn households_sit_in_their_grid_and_group() {
        for d in [small(), full()] {
            households_sit_in(d);
        }
    }

    fn households_sit_in(d: &DemoData) {
        let shapes: HashMap<&TerritoryCode, &MultiPolygon<f64>> = d
            .nodes
            .iter()
            .filter_map(|n| Some((&n.code, n.geometry.as_ref()?)))
            .filter(|(c, _)| c.level() == Level::Grid)
            .collect();
        let groups: HashSet<&TerritoryCode> = d
            .nodes
            .iter()
            .filter(|n| n.level() == Level::Group)
            .map(|n| &n.code)
            .collect();
        let mut per_group: HashMap<&TerritoryCode, usize> = HashMap::new();
        for h in &d.households {
            let shape = shapes[&h.grid];
            let (x, y) = h.location.unwrap();
            assert!(
                shape.contains(&Point::new(x, y)),
                "household {} outside {}",
                h.id,
                h.grid
            );
            if let Some(g) = &h.group {
                assert_eq!(g.parent().as_ref(), Some(&h.grid));
                assert!(groups.contains(g));
                *per_group.entry(g).or_default() += 1;
            }
        }
        assert_eq!(per_group.len(), groups.len(), "every group has households");
        assert!(per_group.values().all(|n| (8..=12).contains(n)));
        let ungrouped = d.households.iter().filter(|h| h.group.is_none()).count();
        assert!(
            ungrouped > 0 && ungrouped < d.households.len() / 100,
            "{ungrouped}"
        );
    }

    #[test]
    fn residents_and_id_numbers_are_plausible() {
        let d = small();
        for h in &d.households {
            assert!((1..=7).contains(&h.residents.len()));
            let head = &h.residents[0];
            assert_eq!(head.relation, "户主");
            assert_eq!(h.head_name, head.name);
            assert!(
                h.address.starts_with("夏河县") && h.address.ends_with('号'),
                "{}",
                h.address
            );
            let id = &h.id_number;
            assert_eq!(id.len(), 18);
            assert_eq!(&id[..6], SMALL_COUNTY);
            assert_eq!(id[6..10].parse::<i32>().unwrap(), head.birth_year);
            assert_eq!(id.as_bytes()[16] % 2 == 1, head.gender == Gender::Male);
            assert_eq!(id.chars().last(), Some(id_check_char(&id[..17])), "{id}");
            for r in &h.residents {
                assert!((1930..=BASE_YEAR).contains(&r.birth_year), "{r:?}");
                assert!(["户主", "配偶", "子女", "父母", "孙子女"].contains(&r.relation.as_str()));
            }
        }
        let id = |s: &str| s.len() == 18 && s.ends_with(id_check_char(&s[..17]));
        assert!(d.households.iter().all(|h| id(&h.id_number)));
        let addr = &d
            .households
            .iter()
            .find(|h| h.grid.as_str().starts_with("623027202201"))
            .unwrap()
            .address;
        assert!(addr.starts_with("夏河县达麦乡达麦村"), "{addr}");
    }

    #[test]
    fn phones_belong_to_one_person_each() {
        for d in [small(), full()] {
            let mut owner: HashMap<&str, &str> = HashMap::new();
            let people = d
                .households
                .iter()
                .map(|h| (h.phone.as_str(), h.head_name.as_str()))
                .chain(
                    d.members
                        .iter()
                        .map(|m| (m.phone.as_str(), m.name.as_str())),
                );
            for (phone, name) in people {
                assert_eq!(phone.len(), 11);
                assert!(phone.bytes().all(|b| b.is_ascii_digit()));
                assert!(
                    ["13", "15", "17", "18", "19"].contains(&&phone[..2]),
                    "{phone}"
                );
                let was = owner.insert(phone, name);
                assert!(was.is_none_or(|w| w == name), "{phone}: {was:?} and {name}");
            }
            let member_phones: HashSet<&str> = d.members.iter().map(|m| m.phone.as_str()).collect();
            assert_eq!(member_phones.len(), d.members.len());
            let household_phones: HashSet<&str> =
                d.households.iter().map(|h| h.phone.as_str()).collect();
            assert_eq!(household_phones.len(), d.households.len());
        }
    }

    #[test]
    fn heads_live_in_their_group() {
        let d = small();
        let mut by_group: HashMap<&TerritoryCode, Vec<&Household>> = HashMap::new();
        for h in &d.households {
            if let Some(g) = &h.group {
                by_group.entry(g).or_default().push(h);
            }
        }
        for (group, head) in &d.group_heads {
            let m = &d.members[*head as usize - 1];
            assert_eq!(m.id, *head);
            assert_eq!(&m.territory, group);
            assert_eq!(
                Some(m.unit.as_str()),
                group.parent().as_ref().map(TerritoryCode::as_str)
            );
            let lives_there = by_group[group].iter().any(|h| {
                h.residents
                    .iter()
                    .any(|r| r.name == m.name && r.gender == m.gender)
            });
            assert!(lives_there, "{} is no resident of {group}", m.name);
        }
    }

    #[test]
    fn ids_are_sequential_and_references_resolve() {
        let d = small();
        let seq = |ids: Vec<i64>| ids.iter().enumerate().all(|(i, id)| *id == i as i64 + 1);
        assert!(seq(d.households.iter().map(|x| x.id).collect()));
        assert!(seq(d.members.iter().map(|x| x.id).collect()));
        assert!(seq(d.monasteries.iter().map(|x| x.id).collect()));
        assert!(seq(d.enterprises.iter().map(|x| x.id).collect()));
        assert!(seq(d.pairings.iter().map(|x| x.id).collect()));
        let nodes: HashSet<&TerritoryCode> = d.nodes.iter().map(|n| &n.code).collect();
        let units: HashSet<&str> = d.units.iter().map(|u| u.code.as_str()).collect();
        for p in &d.pairings {
            match &p.subject {
                PairingSubject::Member(id) => assert!((1..=d.members.len() as i64).contains(id)),
                PairingSubject::Unit(u) => assert!(units.contains(u.as_str())),
            }
            match &p.target {
                PairingTarget::Territory(c) => assert!(nodes.contains(c)),
                PairingTarget::Household(id) => {
                    assert!(d.households[*id as usize - 1].care);
                }
                PairingTarget::Monastery(id) => {
                    assert!((1..=d.monasteries.len() as i64).contains(id))
                }
                PairingTarget::Enterprise(id) => {
                    assert!((1..=d.enterprises.len() as i64).contains(id))
                }
            }
        }
        for a in &d.accounts {
            if let Some(id) = a.member {
                assert!((1..=d.members.len() as i64).contains(&id));
            }
        }
    }

    #[test]
    fn coverage_has_gaps_but_is_high() {
        for d in [small(), full()] {
            let paired = |kind: PairingKind| -> HashSet<String> {
                d.pairings
                    .iter()
                    .filter(|p| p.kind == kind && p.end.is_none())
                    .map(|p| format!("{:?}", p.target))
                    .collect()
            };
            let share = |covered: usize, total: usize| covered as f64 / total as f64;
            let monasteries = paired(PairingKind::Monastery).len();
            let m = share(monasteries, d.monasteries.len());
            assert!((0.9..1.0).contains(&m), "monasteries {m}");
            let care = d.households.iter().filter(|h| h.care).count();
            let c = share(paired(PairingKind::Care).len(), care);
            assert!((0.9..1.0).contains(&c), "care {c}");
            let e = share(paired(PairingKind::Enterprise).len(), d.enterprises.len());
            assert!((0.8..1.0).contains(&e), "enterprises {e}");
            let villages = count(d, Level::Village);
            let v = share(paired(PairingKind::DepartmentVillage).len(), villages);
            assert!((0.95..1.0).contains(&v), "villages {v}");
        }
    }

    #[test]
    fn small_is_the_xiahe_part_of_full() {
        let (f, s) = (full(), small());
        let under = |c: &TerritoryCode| c.as_str().starts_with(SMALL_COUNTY);
        let nodes = |d: &DemoData| -> Vec<(String, String)> {
            d.nodes
                .iter()
                .filter(|n| under(&n.code))
                .map(|n| (n.code.to_string(), n.name.clone()))
                .collect()
        };
        assert_eq!(nodes(f), nodes(s));
        let households = |d: &DemoData| -> Vec<(String, String, String, String, bool)> {
            d.households
                .iter()
                .filter(|h| under(&h.grid))
                .map(|h| {
                    let group = h
                        .group
                        .as_ref()
                        .map_or_else(String::new, ToString::to_string);
                    (
                        h.grid.to_string(),
                        group,
                        h.head_name.clone(),
                        h.phone.clone(),
                        h.care,
                    )
                })
                .collect()
        };
        assert_eq!(households(f), households(s));
        let members = |d: &DemoData| -> Vec<(String, String, String)> {
            d.members
                .iter()
                .filter(|m| under(&m.territory))
                .map(|m| (m.territory.to_string(), m.name.clone(), m.title.clone()))
                .collect()
        };
        assert_eq!(members(f), members(s));
        let accounts = |d: &DemoData| -> Vec<(String, String, Role, Option<String>)> {
            d.accounts
                .iter()
                .filter(|a| under(&a.scope))
                .map(|a| {
                    (
                        a.username.clone(),
                        a.display_name.clone(),
                        a.role,
                        a.unit.clone(),
                    )
                })
                .collect()
        };
        assert_eq!(accounts(f), accounts(s));
        let monasteries = |d: &DemoData| -> Vec<(String, String)> {
            d.monasteries
                .iter()
                .filter(|m| under(&m.territory))
                .map(|m| (m.territory.to_string(), m.name.clone()))
                .collect()
        };
        assert_eq!(monasteries(f), monasteries(s));
        // The prefecture keeps its centre, leader and departments at small scale.
        for u in ["center-623000", "leader-623000", "handler-623000-police"] {
            assert!(s.accounts.iter().any(|a| a.username == u), "{u}");
        }
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(&generate(Scale::Small), small());
        assert!(generate(Scale::Full) == *full());
    }

    #[test]
    fn xiahe_has_labrang() {
        let d = small();
        let labrang = d.monasteries.iter().find(|m| m.name == "拉卜楞寺").unwrap();
        assert!(labrang.territory.as_str().starts_with("623027100"));
        assert!(labrang.monks >= 1000);
    }

    #[test]
    fn id_check_digit_matches_the_standard() {
        // The example of GB 11643-1999.
        assert_eq!(id_check_char("11010519491231002"), 'X');
        assert_eq!(id_check_char("44052418800101001"), '4');
    }

    #[test]
    fn scale_parses_and_prints() {
        for s in Scale::ALL {
            assert_eq!(s.as_str().parse::<Scale>().unwrap(), s);
            assert_eq!(s.to_string(), s.as_str());
        }
        assert!("medium".parse::<Scale>().is_err());
        assert!(Scale::Small.includes(&code("623000")));
        assert!(Scale::Small.includes(&code("623027202201")));
        assert!(!Scale::Small.includes(&code("623026100200")));
    }

    #[test]
    fn phone_numbers_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for ordinal in (0..900).step_by(7) {
            for seq in (0..PHONE_SLOTS).step_by(97) {
                let p = phone_number(ordinal, seq);
                assert_eq!(p.len(), 11);
                assert!(["13", "15", "17", "18", "19"].contains(&&p[..2]), "{p}");
                assert!(seen.insert(p[3..].to_owned()));
            }
        }
    }

    #[test]
    fn largest_remainder_sums_exactly() {
        let parts = largest_remainder(100, &[0.333, 0.333, 0.334]);
        assert_eq!(parts.iter().sum::<u32>(), 100);
        assert_eq!(parts, vec![33, 33, 34]);
    }

    #[test]
    fn group_sizes_stay_within_8_to_12() {
        let mut rng = rng_for("x", 0);
        for n in (8..=12).chain(16..400) {
            let sizes = group_sizes(&mut rng, n);
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| (8..=12).contains(s)), "{n}: {sizes:?}");
        }
    }

    #[test]
    fn village_names_are_shortened() {
        assert_eq!(short_village_name("达麦村民委员会"), "达麦村");
        assert_eq!(short_village_name("贡巴村村民委员会"), "贡巴村");
        assert_eq!(short_village_name("塔哇社区居民委员会"), "塔哇社区");
        assert_eq!(short_village_name("虚拟生活区"), "虚拟生活区");
    }
}
