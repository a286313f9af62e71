//! Full-text search terms for Chinese, Tibetan and English text: what a case is indexed under, and what a query must match.
//!
//! The store keeps, per case, the set [`terms`] returns for its text, and answers a query by
//! requiring every one of [`query_terms`] to be in that set (an `AND` of exact terms, which both
//! SQLite and PostgreSQL do with an ordinary index on `(term, case)`). All the language work
//! happens here, once, so both databases search alike.
//!
//! The text is split into runs by script, and each run is handled the way its script is written:
//!
//! - **Chinese** (Han ideographs): segmented by [jieba](jieba_rs) with its dictionary compiled in
//!   plus Gannan's own vocabulary (place names of every county, township and village, and the
//!   words of grassroots governance: 草场, 虫草, 联户长, 网格员, 十户联防, …), so those are never
//!   split. A text is indexed in *search mode* (`cut_for_search`), which adds the dictionary
//!   words inside a long word (矛盾纠纷 gives 矛盾, 纠纷 and 矛盾纠纷); a query is cut in plain
//!   mode (草场纠纷 asks for 草场 and 纠纷, not for every fragment). Search mode always contains
//!   the plain cut, which is why a text's own words, asked as a query, find it.
//! - **Single Chinese characters.** Function words are dropped everywhere: single characters
//!   such as 的, 了, 在, 是, 和, 有 ([`is_stop_char`]) and a few two-character ones such as
//!   我们, 这个, 因为 ([`is_stop_word`]). Every other character is meaningful and kept: in a
//!   query it is a term when jieba leaves it alone (牛, 羊, 狼, a surname), and in the index every
//!   such character of the text is a term too, after the words, so a one-character query finds
//!   the words containing it (羊 finds 藏羊).
//! - **Tibetan** (U+0F00–U+0FFF): split into syllables on the tsheg (U+0F0B, and the
//!   non-breaking U+0F0C), the shad (U+0F0D, U+0F0E) and every other Tibetan punctuation mark or
//!   symbol. Each syllable is a term, and so is each pair of syllables joined by a tsheg
//!   (`ཞིང་འབྲོག`), so a two-syllable word is found as a whole; a pair never spans a shad. Tibetan
//!   has no reliable stop list we could vouch for (ར alone is "goat"), so no syllable is dropped.
//!   Syllables are put into canonical decomposed order (NFD: `ཱི` typed either way is one term)
//!   and the emphasis marks U+0F35/U+0F37 are ignored. Tibetan digits count as digits (༡༢ = 12).
//! - **Latin letters and digits**: maximal alphanumeric runs, lower-cased; full-width forms
//!   (ＡＢＣ１２３, common in Chinese typing) count as their ASCII letters. A run mixing letters
//!   and digits also gives its letter and digit parts (`GN20250915000042` gives
//!   `gn20250915000042`, `gn` and `20250915000042`), and a digit part of 7 digits or more also
//!   gives its last 4 digits, so a phone number is found by its 尾号 (`5678`). No stemming:
//!   no light English rule is sound (news/new, gas/ga, series) and English is the third language
//!   here, so `dogs` does not find `dog`.
//!
//! Terms are lower-cased, unique, and in a stable order (the words in text order, then the
//! single Chinese characters). Work and output are bounded: only the first [`MAX_INPUT_BYTES`]
//! of a text are read, a text gives at most [`MAX_TERMS`] terms and a query at most
//! [`MAX_QUERY_TERMS`]; past the cap the rest is dropped, the single characters first.
//!
//! The segmenter is built once per process, on first use, and shared ([`preload`] builds it
//! ahead of the first request: it takes ≈ 0.1 s in a release build, nearly all of it loading
//! jieba's 350,000-word dictionary; `cargo run --release -p domain --example search_bench`).

use std::collections::HashSet;
use std::sync::OnceLock;

use jieba_rs::Jieba;

/// At most this many terms are taken from one text (3,600 characters of varied Chinese give
/// about 1,300, so a 5,000-character description stays well below). Words come first, so the
/// cap drops single characters before words, and the end of an overlong text before its
/// beginning.
pub const MAX_TERMS: usize = 4096;

/// At most this many terms are required by one query; the rest of a long query is ignored.
pub const MAX_QUERY_TERMS: usize = 32;

/// Only this many bytes from the start of a text are read (cut back to a character boundary):
/// 64 KiB, over 20,000 Chinese characters, far above any case text.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// The index terms of a text: what a case is found by.
pub fn terms(text: &str) -> Vec<String> {
    collect(text, Mode::Index)
}

/// The terms a query must all match. Every term of `query_terms(t)` is among `terms(t)`.
///
/// Empty when the query has nothing searchable (only punctuation or function words); the caller
/// decides what that means (usually: no text filter).
pub fn query_terms(q: &str) -> Vec<String> {
    collect(q, Mode::Query)
}

/// Builds the segmenter now rather than on the first search or case creation.
pub fn preload() {
    let _ = jieba();
}

/// Whether a single Chinese character is a function word, dropped from terms and queries.
///
/// Particles, pronouns, the commonest prepositions and conjunctions. Characters that are also
/// frequent surnames (于, 何, 向) are kept.
pub fn is_stop_char(c: char) -> bool {
    matches!(
        c,
        '的' | '地'
            | '得'
            | '了'
            | '着'
            | '过'
            | '在'
            | '是'
            | '和'
            | '有'
            | '与'
            | '及'
            | '或'
            | '也'
            | '都'
            | '就'
            | '又'
            | '还'
            | '而'
            | '但'
            | '并'
            | '且'
            | '则'
            | '即'
            | '把'
            | '被'
            | '给'
            | '对'
            | '从'
            | '到'
            | '为'
            | '以'
            | '之'
            | '其'
            | '这'
            | '那'
            | '个'
            | '我'
            | '你'
            | '您'
            | '他'
            | '她'
            | '它'
            | '们'
            | '吗'
            | '呢'
            | '吧'
            | '啊'
            | '呀'
            | '哦'
            | '嗯'
            | '么'
            | '啦'
            | '嘛'
            | '很'
            | '等'
            | '已'
            | '将'
            | '该'
            | '此'
            | '每'
            | '各'
            | '某'
    )
}

/// Whether a Chinese word of two characters or more is a function word, dropped from terms and
/// queries.
pub fn is_stop_word(w: &str) -> bool {
    matches!(
        w,
        "我们"
            | "你们"
            | "他们"
            | "她们"
            | "它们"
            | "咱们"
            | "这个"
            | "那个"
            | "这些"
            | "那些"
            | "这样"
            | "那样"
            | "这里"
            | "那里"
            | "什么"
            | "怎么"
            | "因为"
            | "所以"
            | "但是"
            | "而且"
            | "如果"
            | "虽然"
            | "然后"
            | "或者"
            | "以及"
            | "已经"
            | "一个"
            | "一些"
    )
}

/// Gannan's words of grassroots governance, pastoral life and places that jieba's general
/// dictionary lacks or would split. Place names of every county, township and village are added
/// from the territory tables as well ([`place_words`]).
const LOCAL_WORDS: &[&str] = &[
    // Places.
    "甘南",
    "甘南州",
    "夏河",
    "合作市",
    "玛曲",
    "碌曲",
    "迭部",
    "舟曲",
    "卓尼",
    "临潭",
    "达麦",
    "拉卜楞",
    "拉卜楞寺",
    "郎木寺",
    "尕海",
    "则岔",
    "冶力关",
    "扎尕那",
    "阿万仓",
    "桑科草原",
    "甘加草原",
    "大夏河",
    "洮河",
    "白龙江",
    // Pastoral life.
    "草场",
    "虫草",
    "冬虫夏草",
    "采挖",
    "虫草采挖",
    "牧民",
    "牧户",
    "牧场",
    "夏季牧场",
    "冬季牧场",
    "冬窝子",
    "禁牧",
    "草畜平衡",
    "牦牛",
    "藏羊",
    "犏牛",
    "酥油",
    "糌粑",
    "青稞",
    "帐篷",
    "定居点",
    "寺院",
    "僧人",
    "僧尼",
    "活佛",
    "藏历",
    "藏历新年",
    "泥石流",
    "雪灾",
    "鼠害",
    // Grassroots governance.
    "综治",
    "综治中心",
    "网格",
    "网格员",
    "网格长",
    "专职网格员",
    "网格化",
    "联户",
    "联户长",
    "十户联防",
    "入格联户",
    "联寺包僧",
    "结对关爱",
    "企业包联",
    "支部联建",
    "部门包村",
    "包村",
    "包联",
    "包村干部",
    "驻村工作队",
    "两代表一委员",
    "矛盾纠纷",
    "人民调解",
    "调解员",
    "诉前调解",
    "司法确认",
    "司法所",
    "派出所",
    "一案一码",
    "挂账",
    "督办",
    "回访",
    "返工",
    "退单",
    "派单",
    "签收",
    "交办",
    "上报",
    "办结",
    "结案",
    "信访",
    "来访",
    "平安通",
    "羚小帮",
    // Tibetan given names as they are written in Chinese (two characters each, combined freely:
    // 才让道杰). Left to jieba's statistics, they break into single characters.
    "才让",
    "多杰",
    "道杰",
    "索南",
    "扎西",
    "尕藏",
    "更登",
    "桑吉",
    "旦正",
    "洛桑",
    "贡保",
    "公保",
    "完玛",
    "万玛",
    "久美",
    "加措",
    "嘉措",
    "尼玛",
    "次仁",
    "达瓦",
    "仁青",
    "才旦",
    "周加",
    "南杰",
    "阿旺",
    "旦增",
    "丹增",
    "丹巴",
    "格桑",
    "卓玛",
    "拉毛",
    "央金",
    "德吉",
    "才措",
    "吉毛",
    "卓嘎",
    "拉姆",
    "措毛",
    "梅朵",
    "吉措",
    "周毛",
    "道吉",
    "拉措",
    "才吉",
];

/// The territory tables compiled into the binary (the same files `gannan` reads).
const COUNTIES_CSV: &str = include_str!("../data/gannan/counties_2023.csv");
const TOWNSHIPS_CSV: &str = include_str!("../data/gannan/townships_2023.csv");
const VILLAGES_CSV: &str = include_str!("../data/gannan/villages_2023.csv");

/// Place words from the territory tables: each full name (达麦乡, 夏河县) and its proper name
/// without the administrative suffix (达麦, 夏河), and a village's proper name with 村 or 社区
/// (达麦村), which is how people write it. Names of one character are left out.
fn place_words() -> Vec<String> {
    const SUFFIXES: &[(&str, &str)] = &[
        ("社区居民委员会", "社区"),
        ("居民委员会", ""),
        ("村民委员会", "村"),
        ("村委员会", "村"),
        ("村委会", "村"),
        ("街道", ""),
        ("镇", ""),
        ("乡", ""),
        ("县", ""),
        ("市", ""),
    ];
    let mut out = Vec::new();
    for table in [COUNTIES_CSV, TOWNSHIPS_CSV, VILLAGES_CSV] {
        for line in table.lines().skip(1) {
            let Some(name) = line.split('"').nth(1) else {
                continue;
            };
            if name.contains("虚拟") {
                continue;
            }
            let Some((stem, with)) = SUFFIXES
                .iter()
                .find_map(|(suffix, with)| name.strip_suffix(suffix).map(|stem| (stem, *with)))
            else {
                out.push(name.to_owned());
                continue;
            };
            if stem.chars().count() < 2 {
                continue;
            }
            // A committee's full name is not how anyone writes the place.
            if !name.ends_with("委员会") && !name.ends_with("委会") {
                out.push(name.to_owned());
            }
            out.push(stem.to_owned());
            if !with.is_empty() {
                out.push(format!("{stem}{with}"));
            }
        }
    }
    out
}

/// Build the segmenter now (a few hundred milliseconds), so that the first search after a
/// start does not wait for it. Later calls return at once.
pub fn warm_up() {
    jieba();
}

/// The shared segmenter: jieba's dictionary plus Gannan's words.
fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(|| {
        let mut jieba = Jieba::new();
        // `None` lets jieba pick a frequency just high enough to keep the word whole on its own
        // (never lower than the frequency it already has).
        for w in LOCAL_WORDS {
            jieba.add_word(w, None, None);
        }
        for w in place_words() {
            jieba.add_word(&w, None, Some("ns"));
        }
        jieba
    })
}

/// Whether a text is indexed or queried.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Index,
    Query,
}

/// Unique terms in first-seen order, up to a cap.
struct Terms {
    seen: HashSet<String>,
    out: Vec<String>,
    cap: usize,
}

impl Terms {
    fn new(cap: usize) -> Terms {
        Terms {
            seen: HashSet::new(),
            out: Vec::new(),
            cap,
        }
    }

    fn full(&self) -> bool {
        self.out.len() >= self.cap
    }

    fn push(&mut self, term: &str) {
        if !self.full() && !term.is_empty() && !self.seen.contains(term) {
            self.seen.insert(term.to_owned());
            self.out.push(term.to_owned());
        }
    }
}

/// The script class of one character.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Han,
    /// A letter, vowel sign or mark of a Tibetan syllable.
    TibetanLetter,
    /// The tsheg: a syllable ends, the word may go on.
    Tsheg,
    /// A Tibetan mark search ignores.
    Ignored,
    /// A letter or digit of an alphanumeric run, already normalised (full-width to ASCII,
    /// Tibetan digits to ASCII digits).
    Alnum(char),
    /// Anything else ends every run: spaces, punctuation, shad, symbols.
    Separator,
}

fn is_han(c: char) -> bool {
    matches!(c,
        '\u{3007}'                    // 〇
        | '\u{3400}'..='\u{4DBF}'     // Extension A
        | '\u{4E00}'..='\u{9FFF}'     // Unified Ideographs
        | '\u{F900}'..='\u{FAFF}'     // Compatibility Ideographs
        | '\u{20000}'..='\u{3134F}' // Extensions B–G
    )
}

fn classify(c: char) -> Class {
    match c {
        '\u{0F0B}' | '\u{0F0C}' => Class::Tsheg,
        '\u{0F35}' | '\u{0F37}' | '\u{0F18}' | '\u{0F19}' | '\u{0FC6}' => Class::Ignored,
        '\u{0F20}'..='\u{0F29}' => Class::Alnum(char::from(b'0' + (u32::from(c) - 0x0F20) as u8)),
        '\u{0F00}'
        | '\u{0F39}'
        | '\u{0F3E}'..='\u{0F6C}'
        | '\u{0F71}'..='\u{0F84}'
        | '\u{0F86}'..='\u{0FBC}' => Class::TibetanLetter,
        '\u{0F00}'..='\u{0FFF}' => Class::Separator,
        // Full-width ASCII (Ａ–Ｚ, ａ–ｚ, ０–９) as typed by Chinese input methods.
        '\u{FF10}'..='\u{FF19}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
            Class::Alnum(char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c))
        }
        c if is_han(c) => Class::Han,
        c if c.is_alphanumeric() => Class::Alnum(c),
        _ => Class::Separator,
    }
}

/// The canonical decomposition of the Tibetan characters that have one (and the two
/// compatibility vowels U+0F77, U+0F79), as Unicode's NFKD gives them.
fn decompose_tibetan(c: char, out: &mut Vec<char>) {
    let parts: &[char] = match c {
        '\u{0F43}' => &['\u{0F42}', '\u{0FB7}'],
        '\u{0F4D}' => &['\u{0F4C}', '\u{0FB7}'],
        '\u{0F52}' => &['\u{0F51}', '\u{0FB7}'],
        '\u{0F57}' => &['\u{0F56}', '\u{0FB7}'],
        '\u{0F5C}' => &['\u{0F5B}', '\u{0FB7}'],
        '\u{0F69}' => &['\u{0F40}', '\u{0FB5}'],
        '\u{0F73}' => &['\u{0F71}', '\u{0F72}'],
        '\u{0F75}' => &['\u{0F71}', '\u{0F74}'],
        '\u{0F76}' => &['\u{0FB2}', '\u{0F80}'],
        '\u{0F77}' => &['\u{0FB2}', '\u{0F71}', '\u{0F80}'],
        '\u{0F78}' => &['\u{0FB3}', '\u{0F80}'],
        '\u{0F79}' => &['\u{0FB3}', '\u{0F71}', '\u{0F80}'],
        '\u{0F81}' => &['\u{0F71}', '\u{0F80}'],
        '\u{0F93}' => &['\u{0F92}', '\u{0FB7}'],
        '\u{0F9D}' => &['\u{0F9C}', '\u{0FB7}'],
        '\u{0FA2}' => &['\u{0FA1}', '\u{0FB7}'],
        '\u{0FA7}' => &['\u{0FA6}', '\u{0FB7}'],
        '\u{0FAC}' => &['\u{0FAB}', '\u{0FB7}'],
        '\u{0FB9}' => &['\u{0F90}', '\u{0FB5}'],
        _ => {
            out.push(c);
            return;
        }
    };
    out.extend_from_slice(parts);
}

/// The canonical combining class of the Tibetan marks that have one (0 for everything else).
fn combining_class(c: char) -> u8 {
    match c {
        '\u{0F84}' => 9,
        '\u{0F71}' => 129,
        '\u{0F72}' | '\u{0F7A}'..='\u{0F7D}' | '\u{0F80}' => 130,
        '\u{0F74}' => 132,
        '\u{0F39}' => 216,
        '\u{0F82}' | '\u{0F83}' | '\u{0F86}' | '\u{0F87}' => 230,
        _ => 0,
    }
}

/// A syllable in canonical order: decomposed, and each run of combining marks sorted (stably)
/// by combining class, as Unicode's canonical ordering does.
fn normalise_syllable(raw: &[char]) -> String {
    let mut chars = Vec::with_capacity(raw.len() + 2);
    for &c in raw {
        decompose_tibetan(c, &mut chars);
    }
    for i in 1..chars.len() {
        let mut j = i;
        while j > 0 {
            let (a, b) = (combining_class(chars[j - 1]), combining_class(chars[j]));
            if a > b && b != 0 {
                chars.swap(j - 1, j);
                j -= 1;
            } else {
                break;
            }
        }
    }
    chars.into_iter().collect()
}

/// The run being read.
enum Run {
    None,
    /// Byte offset where the Han run starts.
    Han(usize),
    /// The current syllable's characters, and the previous syllable of the same word.
    Tibetan(Vec<char>, Option<String>),
    /// The lower-cased run so far.
    Alnum(String),
}

struct Tokenizer<'j> {
    mode: Mode,
    jieba: &'j Jieba,
    words: Terms,
    /// Single Chinese characters (index mode only), appended after the words.
    chars: Terms,
}

impl Tokenizer<'_> {
    fn han(&mut self, run: &str) {
        let tokens = match self.mode {
            Mode::Index => self.jieba.cut_for_search(run, true),
            Mode::Query => self.jieba.cut(run, true),
        };
        for token in tokens {
            if !is_stop(token.word) {
                self.words.push(token.word);
            }
        }
        if self.mode == Mode::Index {
            for c in run.chars().filter(|c| !is_stop_char(*c)) {
                let mut buf = [0u8; 4];
                self.chars.push(c.encode_utf8(&mut buf));
            }
        }
    }

    /// Ends the current syllable; `word_goes_on` when a tsheg ended it.
    fn syllable(&mut self, raw: &mut Vec<char>, prev: &mut Option<String>, word_goes_on: bool) {
        if !raw.is_empty() {
            let syllable = normalise_syllable(raw);
            raw.clear();
            self.words.push(&syllable);
            if let Some(p) = prev.as_deref() {
                self.words.push(&format!("{p}\u{0F0B}{syllable}"));
            }
            *prev = Some(syllable);
        }
        if !word_goes_on {
            *prev = None;
        }
    }

    fn alnum(&mut self, run: &str) {
        self.words.push(run);
        let has_digit = run.bytes().any(|b| b.is_ascii_digit());
        let has_other = run.chars().any(|c| !c.is_ascii_digit());
        let mut digit_parts = Vec::new();
        let mut rest = run;
        while let Some(first) = rest.chars().next() {
            let digits = first.is_ascii_digit();
            let end = rest
                .char_indices()
                .find(|(_, c)| c.is_ascii_digit() != digits)
                .map_or(rest.len(), |(i, _)| i);
            let (part, tail) = rest.split_at(end);
            if has_digit && has_other {
                self.words.push(part);
            }
            if digits {
                digit_parts.push(part);
            }
            rest = tail;
        }
        for part in digit_parts {
            if part.len() >= 7 {
                self.words.push(&part[part.len() - 4..]);
            }
        }
    }

    fn finish(&mut self, text: &str, run: Run, end: usize) {
        match run {
            Run::None => {}
            Run::Han(start) => self.han(&text[start..end]),
            Run::Tibetan(mut raw, mut prev) => self.syllable(&mut raw, &mut prev, false),
            Run::Alnum(s) => self.alnum(&s),
        }
    }
}

fn is_stop(word: &str) -> bool {
    let mut chars = word.chars();
    match (chars.next(), chars.next()) {
        (None, _) => true,
        (Some(c), None) => is_stop_char(c),
        _ => is_stop_word(word),
    }
}

fn collect(text: &str, mode: Mode) -> Vec<String> {
    let text = &text[..text.floor_char_boundary(MAX_INPUT_BYTES)];
    let cap = match mode {
        Mode::Index => MAX_TERMS,
        Mode::Query => MAX_QUERY_TERMS,
    };
    let mut t = Tokenizer {
        mode,
        jieba: jieba(),
        words: Terms::new(cap),
        chars: Terms::new(cap),
    };
    let mut run = Run::None;
    for (i, c) in text.char_indices() {
        if t.words.full() {
            break;
        }
        let class = classify(c);
        // Continue the current run where the class allows it.
        match (&mut run, class) {
            (Run::Han(_), Class::Han) => continue,
            (Run::Tibetan(raw, _), Class::TibetanLetter) => {
                raw.push(c);
                continue;
            }
            (Run::Tibetan(raw, prev), Class::Tsheg) => {
                t.syllable(raw, prev, true);
                continue;
            }
            (Run::Tibetan(..), Class::Ignored) => continue,
            (Run::Alnum(s), Class::Alnum(a)) => {
                s.extend(a.to_lowercase());
                continue;
            }
            _ => {}
        }
        t.finish(text, std::mem::replace(&mut run, Run::None), i);
        run = match class {
            Class::Han => Run::Han(i),
            Class::TibetanLetter => Run::Tibetan(vec![c], None),
            Class::Alnum(a) => Run::Alnum(a.to_lowercase().collect()),
            Class::Tsheg | Class::Ignored | Class::Separator => Run::None,
        };
    }
    if !t.words.full() {
        t.finish(text, run, text.len());
    }
    let Tokenizer {
        mut words, chars, ..
    } = t;
    for c in chars.out {
        words.push(&c);
    }
    words.out
}

#[cfg(test)]
mod tests;
