use proptest::prelude::*;

use super::*;

/// Whether a text is found by a query: every query term is among the text's terms.
fn finds(text: &str, q: &str) -> bool {
    let t = terms(text);
    let q = query_terms(q);
    !q.is_empty() && q.iter().all(|x| t.contains(x))
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn chinese_search_mode_adds_the_words_inside_a_word() {
    let t = terms("矛盾纠纷");
    assert_eq!(&strs(&t)[..3], ["矛盾", "纠纷", "矛盾纠纷"]);
    // Then the single characters.
    assert_eq!(&strs(&t)[3..], ["矛", "盾", "纠", "纷"]);
    assert_eq!(query_terms("矛盾纠纷"), ["矛盾纠纷"]);
}

#[test]
fn a_chinese_query_is_cut_in_plain_mode() {
    assert_eq!(query_terms("草场纠纷"), ["草场", "纠纷"]);
    assert_eq!(
        query_terms("达麦村牧民反映草场纠纷"),
        ["达麦村", "牧民", "反映", "草场", "纠纷"]
    );
}

#[test]
fn local_vocabulary_is_kept_whole() {
    let jieba = jieba();
    for w in LOCAL_WORDS {
        let cut: Vec<&str> = jieba.cut(w, true).iter().map(|t| t.word).collect();
        assert_eq!(cut, [*w], "{w}");
    }
    for w in place_words() {
        let cut: Vec<&str> = jieba.cut(&w, true).iter().map(|t| t.word).collect();
        assert_eq!(cut, [w.as_str()], "{w}");
    }
    assert_eq!(
        query_terms("十户联防联户长网格员在夏河县拉卜楞镇"),
        ["十户联防", "联户长", "网格员", "夏河县", "拉卜楞镇"]
    );
    assert_eq!(query_terms("才让道杰"), ["才让", "道杰"]);
}

#[test]
fn place_words_come_from_the_territory_tables() {
    let words = place_words();
    for w in [
        "夏河县",
        "夏河",
        "合作市",
        "达麦乡",
        "达麦",
        "达麦村",
        "拉卜楞镇",
        "拉卜楞",
        "王格尔塘",
        "当周街道",
        "当周",
        "知合玛",
        "知合玛社区",
        "乎尔卡加村",
    ] {
        assert!(words.iter().any(|x| x == w), "{w} missing");
    }
    assert!(
        words
            .iter()
            .all(|w| !w.ends_with("委员会") && !w.contains("虚拟"))
    );
    assert!(words.iter().all(|w| w.chars().count() >= 2));
}

#[test]
fn function_words_are_dropped_and_meaningful_characters_kept() {
    assert!(terms("的了在是和有").is_empty());
    assert!(query_terms("我们的").is_empty());
    // 羊 and 狼 stand alone in the cut; 了 and 被 are function words.
    assert_eq!(query_terms("羊被狼咬死了"), ["羊", "狼", "咬", "死"]);
    // The index also holds every meaningful character, so one character finds a word.
    assert!(finds("两只藏羊被咬", "羊"));
    assert!(finds("两只藏羊被咬", "藏羊"));
    assert!(!finds("两只藏羊被咬", "牛"));
}

#[test]
fn chinese_queries_find_their_cases() {
    let text = "达麦乡达麦村牧民反映草场纠纷，请网格员尽快处理！";
    for q in [
        "草场纠纷",
        "草场",
        "纠纷",
        "达麦",
        "达麦村",
        "达麦乡",
        "网格员",
        "牧民 纠纷",
        "草",
    ] {
        assert!(finds(text, q), "{q}");
    }
    for q in ["虫草", "泥石流", "草场 虫草", "pasture"] {
        assert!(!finds(text, q), "{q}");
    }
}

#[test]
fn tibetan_is_split_into_syllables_and_pairs() {
    assert_eq!(
        terms("བོད་ཀྱི་ས་གནས།"),
        ["བོད", "ཀྱི", "བོད་ཀྱི", "ས", "ཀྱི་ས", "གནས", "ས་གནས"]
    );
    assert_eq!(terms("ཞིང་འབྲོག་པ།"), ["ཞིང", "འབྲོག", "ཞིང་འབྲོག", "པ", "འབྲོག་པ"]);
    // Tibetan queries use the same rule.
    assert_eq!(query_terms("ཞིང་འབྲོག"), ["ཞིང", "འབྲོག", "ཞིང་འབྲོག"]);
    assert!(finds("ཞིང་འབྲོག་པ།", "ཞིང་འབྲོག"));
    assert!(finds("ཞིང་འབྲོག་པ།", "འབྲོག"));
    assert!(!finds("ཞིང་འབྲོག་པ།", "པ་ཞིང"));
}

#[test]
fn a_tibetan_pair_never_spans_a_shad_or_a_space() {
    let t = terms("ཀ་ཁ། ག་ང༎ཅ ཆ");
    assert_eq!(strs(&t), ["ཀ", "ཁ", "ཀ་ཁ", "ག", "ང", "ག་ང", "ཅ", "ཆ"]);
    // Trailing, doubled and non-breaking tshegs are only separators.
    assert_eq!(terms("ཀ་་ཁ་།"), ["ཀ", "ཁ", "ཀ་ཁ"]);
    assert_eq!(terms("ཀ\u{0F0C}ཁ"), ["ཀ", "ཁ", "ཀ་ཁ"]);
    // Other Tibetan punctuation and symbols separate too.
    assert_eq!(terms("༄༅།།ཀ༑ཁ"), ["ཀ", "ཁ"]);
}

#[test]
fn tibetan_spellings_are_normalised() {
    // ཱི precomposed, in canonical order and in reverse order: one term.
    let a = terms("ཀ\u{0F73}");
    assert_eq!(a, terms("ཀ\u{0F71}\u{0F72}"));
    assert_eq!(a, terms("ཀ\u{0F72}\u{0F71}"));
    assert_eq!(a, ["ཀ\u{0F71}\u{0F72}"]);
    // GHA and GA + subjoined HA.
    assert_eq!(terms("\u{0F43}"), terms("\u{0F42}\u{0FB7}"));
    // Emphasis marks are ignored; Tibetan digits are digits.
    assert_eq!(terms("ཀ\u{0F35}"), ["ཀ"]);
    assert_eq!(terms("༢༠༢༥"), ["2025"]);
    assert!(finds("ལོ་༢༠༢༥", "2025"));
}

#[test]
fn english_and_numbers() {
    assert_eq!(
        terms("Pasture DISPUTE near road-12, can't wait"),
        [
            "pasture", "dispute", "near", "road", "12", "can", "t", "wait"
        ]
    );
    // No stemming.
    assert!(!finds("dogs", "dog"));
    // Letters with their case folded, full-width forms as ASCII.
    assert_eq!(
        terms("Ｇ２１３ Éboulement"),
        ["g213", "g", "213", "éboulement"]
    );
}

#[test]
fn codes_and_phone_numbers_are_found_by_their_parts() {
    let text = "报告人电话13812345678，案件GN20250915000042";
    let t = terms(text);
    for term in [
        "13812345678",
        "5678",
        "gn20250915000042",
        "gn",
        "20250915000042",
    ] {
        assert!(t.iter().any(|x| x == term), "{term} in {t:?}");
    }
    assert!(finds(text, "GN20250915000042"));
    assert!(finds(text, "gn20250915000042"));
    assert!(finds(text, "5678"));
    assert!(finds(text, "13812345678"));
    assert!(!finds(text, "1234"));
    // Short numbers are kept as they are.
    assert_eq!(query_terms("3户"), ["3", "户"]);
}

#[test]
fn mixed_scripts() {
    let text = "夏河县 Xiahe ལབ་བྲང 2025年草场纠纷case#7";
    let t = terms(text);
    for term in [
        "夏河县",
        "夏河",
        "xiahe",
        "ལབ",
        "བྲང",
        "ལབ་བྲང",
        "2025",
        "草场",
        "纠纷",
        "case",
        "7",
    ] {
        assert!(t.iter().any(|x| x == term), "{term} in {t:?}");
    }
    assert!(finds(text, "Xiahe 草场 ལབ་བྲང"));
    // A Han run ends at a digit, a Tibetan run at a Han character.
    assert_eq!(
        query_terms("纠纷ཀ་ཁ草场"),
        ["纠纷", "ཀ", "ཁ", "ཀ་ཁ", "草场"]
    );
}

#[test]
fn empty_and_punctuation_only() {
    for text in [
        "",
        "   ",
        "。，！？、；：“”（）《》【】……——",
        "!?.,;:-_/\\()[]{}<>\"'",
        "།༎་",
        "\n\t",
    ] {
        assert!(terms(text).is_empty(), "{text:?}");
        assert!(query_terms(text).is_empty(), "{text:?}");
    }
    assert!(!finds("草场", ""));
}

#[test]
fn terms_are_unique_and_lower_case() {
    let t = terms("Road ROAD road 草场 草场 草场纠纷");
    assert_eq!(strs(&t), ["road", "草场", "纠纷", "草", "场", "纠", "纷"]);
}

#[test]
fn very_long_input_is_bounded() {
    // Distinct numbers: the cap is reached exactly, keeping the beginning.
    let numbers: String = (0..100_000).map(|n| format!("{n} ")).collect();
    let t = terms(&numbers);
    assert_eq!(t.len(), MAX_TERMS);
    assert_eq!(t[0], "0");
    assert_eq!(t[MAX_TERMS - 1], (MAX_TERMS - 1).to_string());

    // Only the first MAX_INPUT_BYTES are read.
    let mut late = "路 ".repeat(MAX_INPUT_BYTES / 4);
    late.push_str("zebra");
    assert!(late.len() > MAX_INPUT_BYTES);
    assert_eq!(terms(&late), ["路"]);

    // A megabyte of Chinese without punctuation.
    let chinese: String = (0..350_000u32)
        .map(|i| char::from_u32(0x4E00 + (i * 7919) % 20_000).unwrap())
        .collect();
    assert!(terms(&chinese).len() <= MAX_TERMS);

    // Queries are capped too.
    let q: String = (0..100).map(|n| format!("w{n} ")).collect();
    let qt = query_terms(&q);
    assert_eq!(qt.len(), MAX_QUERY_TERMS);
    assert_eq!(qt[0], "w0");

    // A truncated text is cut at a character boundary.
    let cut = "草".repeat(MAX_INPUT_BYTES);
    assert!(!terms(&cut).is_empty());
}

/// Pieces the generated texts are made of: Chinese words (local vocabulary, common words,
/// function words) and random ideographs, Tibetan syllables and marks, English words,
/// numbers and codes, and punctuation of all three scripts.
fn piece() -> impl Strategy<Value = String> {
    let chinese = prop::sample::select(vec![
        "草场",
        "纠纷",
        "矛盾纠纷",
        "虫草",
        "采挖",
        "网格员",
        "联户长",
        "十户联防",
        "达麦",
        "夏河",
        "合作市",
        "玛曲",
        "泥石流",
        "藏历新年",
        "牧民",
        "反映",
        "处理",
        "的",
        "了",
        "在",
        "是",
        "和",
        "有",
        "我们",
        "羊",
        "狼",
        "牦牛",
        "村民",
        "草原",
        "道路",
        "塌方",
        "才让",
        "卓玛",
        "卓尼县",
        "拉卜楞寺",
        "派出所",
        "邻里",
        "纠",
        "场",
    ])
    .prop_map(str::to_owned);
    let han = prop::collection::vec(0x4E00u32..0x9FA5, 1..6)
        .prop_map(|v| v.into_iter().filter_map(char::from_u32).collect::<String>());
    let tibetan = prop::sample::select(vec![
        "བོད",
        "ཀྱི",
        "ས",
        "གནས",
        "ཞིང",
        "འབྲོག",
        "པ",
        "རྩྭ",
        "ཐང",
        "རྩོད",
        "གཞི",
        "ཀཱི",
        "ཀ\u{0F73}",
        "\u{0F43}",
        "་",
        "་",
        "།",
        "༎",
        "༄༅",
        "༡༢",
    ])
    .prop_map(str::to_owned);
    let latin = prop::sample::select(vec![
        "Pasture",
        "dispute",
        "ROAD",
        "GN20250915000042",
        "13812345678",
        "2025",
        "wifi6",
        "Ｇ２１３",
        "Éboulement",
        "a",
    ])
    .prop_map(str::to_owned);
    let punct = prop::sample::select(vec![
        " ", "，", "。", "！", "、", "-", "/", "\n", "（", "）", "'", "#",
    ])
    .prop_map(str::to_owned);
    prop_oneof![3 => chinese, 2 => han, 3 => tibetan, 2 => latin, 2 => punct]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A text's own words, asked as a query, find it.
    #[test]
    fn query_terms_of_a_text_are_among_its_terms(t in text()) {
        let index = terms(&t);
        for q in query_terms(&t) {
            prop_assert!(index.contains(&q), "{q:?} of {t:?} not in {index:?}");
        }
    }

    /// Any run of the text's pieces, queried alone, gives terms that are also the text's,
    /// whenever the run is cut at script or punctuation boundaries.
    #[test]
    fn a_separated_part_of_a_text_finds_it(
        before in text(), part in text(), after in text()
    ) {
        let whole = format!("{before}。{part}。{after}");
        let index = terms(&whole);
        for q in query_terms(&part) {
            prop_assert!(index.contains(&q), "{q:?} of {part:?} not in {index:?}");
        }
    }

    #[test]
    fn terms_are_unique_lower_case_and_bounded(t in text()) {
        let index = terms(&t);
        prop_assert!(index.len() <= MAX_TERMS);
        let unique: HashSet<&String> = index.iter().collect();
        prop_assert_eq!(unique.len(), index.len());
        for x in &index {
            prop_assert!(!x.is_empty());
            prop_assert_eq!(x.to_lowercase(), x.clone());
            prop_assert!(!x.chars().any(|c| c.is_whitespace() || "，。！、-/#།".contains(c)));
        }
        prop_assert!(query_terms(&t).len() <= MAX_QUERY_TERMS);
    }
}
