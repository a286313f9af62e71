//! Prints how long the search segmenter takes to build and how fast `search::terms` and
//! `search::query_terms` run on case-like texts.
//!
//! `cargo run --release -p domain --example search_bench`

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::hint::black_box;
use std::time::Instant;

use domain::search;

const CHINESE: &[&str] = &[
    "达麦乡达麦村牧民反映",
    "两户牧民因草场边界发生纠纷",
    "网格员已上门调解",
    "虫草采挖期间外来人员进入承包草场",
    "村道旁山体出现裂缝，雨季可能引发泥石流",
    "联户长报告一户独居老人需要帮助",
    "十户联防巡逻中发现路灯损坏",
    "请尽快派人处理",
    "藏历新年前后注意用火安全",
    "牦牛三头走失，疑似被盗",
    "邻里之间因宅基地问题多次争吵",
    "拉卜楞镇一处民房墙体开裂",
    "群众咨询草原生态补奖政策",
];
const TIBETAN: &[&str] = &["བོད་ཀྱི་ས་གནས།", "ཞིང་འབྲོག་པ།", "རྩྭ་ཐང་གི་རྩོད་གཞི།"];
const OTHER: &[&str] = &[
    "电话13812345678",
    "GN20250915000042",
    "pasture dispute",
    "3户",
    "，",
    "。",
];

/// A deterministic case-like text of 60 to 300 characters.
fn text(seed: &mut u64) -> String {
    let mut next = |n: usize| {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((*seed >> 33) as usize) % n
    };
    let target = 60 + next(240);
    let mut s = String::new();
    while s.chars().count() < target {
        let piece = match next(10) {
            0 => TIBETAN[next(TIBETAN.len())],
            1 | 2 => OTHER[next(OTHER.len())],
            _ => CHINESE[next(CHINESE.len())],
        };
        s.push_str(piece);
    }
    s
}

fn main() {
    // jieba's own dictionary alone, then the segmenter search uses (the same plus Gannan's
    // words); the second build finds the dictionary's pages warm.
    let t = Instant::now();
    drop(black_box(jieba_rs::Jieba::new()));
    println!(
        "jieba_dictionary_only_ms {:.1}",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    search::preload();
    println!("search_preload_ms {:.1}", t.elapsed().as_secs_f64() * 1e3);

    let mut seed = 42;
    let texts: Vec<String> = (0..20_000).map(|_| text(&mut seed)).collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let chars: usize = texts.iter().map(|s| s.chars().count()).sum();

    // Warm up, then measure.
    for s in texts.iter().take(1000) {
        black_box(search::terms(s));
    }
    let t = Instant::now();
    let mut n_terms = 0;
    for s in &texts {
        n_terms += black_box(search::terms(s)).len();
    }
    let e = t.elapsed().as_secs_f64();
    println!(
        "terms: {} texts, avg {} chars, avg {:.0} terms: texts_per_s {:.0}, chars_per_s {:.0}, mb_per_s {:.2}",
        texts.len(),
        chars / texts.len(),
        n_terms as f64 / texts.len() as f64,
        texts.len() as f64 / e,
        chars as f64 / e,
        bytes as f64 / e / 1e6
    );

    let queries: Vec<String> = texts.iter().map(|s| s.chars().take(12).collect()).collect();
    let t = Instant::now();
    let mut n_query = 0;
    for q in &queries {
        n_query += black_box(search::query_terms(q)).len();
    }
    let e = t.elapsed().as_secs_f64();
    println!(
        "query_terms: {} queries of 12 chars, avg {:.1} terms: queries_per_s {:.0}",
        queries.len(),
        n_query as f64 / queries.len() as f64,
        queries.len() as f64 / e
    );

    let long: String = texts.concat().chars().take(5000).collect();
    let t = Instant::now();
    let reps = 200;
    let mut n_long = 0;
    for _ in 0..reps {
        n_long = black_box(search::terms(&long)).len();
    }
    println!(
        "terms: a 5,000-character text gives {n_long} terms in {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3 / reps as f64
    );
}
