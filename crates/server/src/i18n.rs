//! The translation layer: Fluent bundles for Chinese (the default), Tibetan and English,
//! compiled into the binary. Bidi isolation marks are off: they would show as stray characters
//! in Chinese and Tibetan pages.

use std::collections::HashMap;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use serde::Serialize;
use unic_langid::LanguageIdentifier;

/// A language of the user interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
pub enum Lang {
    #[default]
    Zh,
    Bo,
    En,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Zh, Lang::Bo, Lang::En];

    /// The `?lang=` value and cookie value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::Bo => "bo",
            Lang::En => "en",
        }
    }

    /// The HTML `lang` attribute.
    pub fn html_lang(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::Bo => "bo",
            Lang::En => "en",
        }
    }

    /// The language's own name, for the switcher.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::Zh => "中文",
            Lang::Bo => "བོད་ཡིག",
            Lang::En => "English",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "zh_cn" | "zh-hans" => Some(Lang::Zh),
            "bo" | "bo-cn" => Some(Lang::Bo),
            "en" | "en-us" | "en-gb" => Some(Lang::En),
            _ => None,
        }
    }
}

/// The translation files of one area of the product, in each language: `i18n/<tag>/<area>.ftl`.
/// A new area adds its three files and one line to [`SOURCES`].
macro_rules! area {
    ($name:literal) => {
        [
            include_str!(concat!("../i18n/zh-CN/", $name, ".ftl")),
            include_str!(concat!("../i18n/bo/", $name, ".ftl")),
            include_str!(concat!("../i18n/en/", $name, ".ftl")),
        ]
    };
}

/// Every area's files, in the order of [`LANGS`].
const SOURCES: &[[&str; 3]] = &[
    area!("core"),
    area!("resident"),
    area!("org"),
    area!("field"),
    area!("emergency"),
    area!("center"),
    area!("notices"),
];

/// The languages with their tags, in the order of each [`SOURCES`] entry.
const LANGS: [(Lang, &str); 3] = [(Lang::Zh, "zh-CN"), (Lang::Bo, "bo"), (Lang::En, "en")];

/// Every file of one language, with its index in [`LANGS`].
fn files(i: usize) -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(move |area| area[i])
}

/// All bundles; a message missing in Tibetan or English falls back to Chinese.
pub struct I18n {
    bundles: HashMap<Lang, FluentBundle<FluentResource>>,
}

impl I18n {
    /// Parse the embedded `.ftl` files. A syntax error in them is a build defect: the test
    /// `every_message_parses` catches it before release.
    pub fn load() -> I18n {
        let mut bundles = HashMap::new();
        for (i, (lang, tag)) in LANGS.into_iter().enumerate() {
            let id: LanguageIdentifier = tag.parse().expect("valid language tag");
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            bundle.set_use_isolating(false);
            for src in files(i) {
                let res = match FluentResource::try_new(src.to_owned()) {
                    Ok(r) => r,
                    Err((r, errors)) => {
                        tracing::error!(lang = tag, ?errors, "translation file has errors");
                        r
                    }
                };
                if let Err(errors) = bundle.add_resource(res) {
                    tracing::error!(lang = tag, ?errors, "duplicate translation messages");
                }
            }
            bundles.insert(lang, bundle);
        }
        I18n { bundles }
    }

    /// The message `key` in `lang`, falling back to Chinese, then to the key itself.
    pub fn t(&self, lang: Lang, key: &str) -> String {
        self.format(lang, key, None)
    }

    /// The message `key` with arguments.
    pub fn t_args(&self, lang: Lang, key: &str, args: &[(&str, String)]) -> String {
        let mut fa = FluentArgs::new();
        for (k, v) in args {
            fa.set(*k, v.clone());
        }
        self.format(lang, key, Some(&fa))
    }

    fn format(&self, lang: Lang, key: &str, args: Option<&FluentArgs>) -> String {
        for l in [lang, Lang::Zh] {
            let Some(bundle) = self.bundles.get(&l) else {
                continue;
            };
            if let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) {
                let mut errors = vec![];
                return bundle
                    .format_pattern(pattern, args, &mut errors)
                    .into_owned();
            }
        }
        key.to_owned()
    }

    /// Keys present in Chinese but missing in `lang`.
    pub fn missing(&self, lang: Lang) -> Vec<String> {
        let Some(zh) = self.bundles.get(&Lang::Zh) else {
            return vec![];
        };
        let Some(other) = self.bundles.get(&lang) else {
            return vec!["<bundle>".into()];
        };
        files(0)
            .flat_map(str::lines)
            .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim()))
            .filter(|k| !k.starts_with('#') && !k.is_empty())
            .filter(|k| zh.has_message(k) && !other.has_message(k))
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_parses_and_english_is_complete() {
        for (i, (_, tag)) in LANGS.into_iter().enumerate() {
            for src in files(i) {
                assert!(
                    FluentResource::try_new(src.to_owned()).is_ok(),
                    "{tag} has syntax errors"
                );
            }
        }
        let i = I18n::load();
        assert_eq!(i.missing(Lang::En), Vec::<String>::new());
        assert_eq!(i.t(Lang::Zh, "app-name"), "格桑");
        assert!(
            !i.t(Lang::En, "nav-home").contains('\u{2068}'),
            "no bidi isolation marks"
        );
    }

    #[test]
    fn tibetan_strings_use_tibetan_unicode_only() {
        // Tibetan (U+0F00–U+0FFF), ASCII, and the few common marks a Tibetan sentence borrows;
        // never a private-use legacy encoding, never Chinese standing in for a translation.
        let common = ['·', '…', '—', '–', '→', '×', '\u{a0}'];
        let mut tibetan_lines = 0;
        for line in files(1).flat_map(str::lines).filter(|l| l.contains(" = ")) {
            let (key, value) = line.split_once(" = ").unwrap();
            for ch in value.chars() {
                let cp = ch as u32;
                assert!(
                    (0x0F00..=0x0FFF).contains(&cp) || ch.is_ascii() || common.contains(&ch),
                    "{key}: {ch:?} (U+{cp:04X}) is neither Tibetan, ASCII nor common punctuation"
                );
            }
            if value
                .chars()
                .any(|c| ('\u{0F00}'..='\u{0FFF}').contains(&c))
            {
                tibetan_lines += 1;
            }
        }
        assert!(
            tibetan_lines > 100,
            "the Tibetan files are written in Tibetan"
        );
        // Every resident-facing string has its Tibetan (the resident area is complete).
        let i = I18n::load();
        let resident_missing: Vec<String> = i
            .missing(Lang::Bo)
            .into_iter()
            .filter(|k| k.starts_with("resident-"))
            .collect();
        assert_eq!(resident_missing, Vec::<String>::new());
    }
}
