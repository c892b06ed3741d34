//! The responder's own sentences in each language, as Project Fluent resources
//! (`locales/<language>/responder.ftl`, built into the binary).
//!
//! Only what the bot says around an answer lives here (greetings, clarifying questions, the
//! handoff, how a card status reads); answers themselves come from the FAQ. Every language
//! has the same message ids (a test checks it); a message missing in one falls back to
//! English, so a half-translated language degrades instead of failing.

use std::collections::HashMap;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};

/// The language every message exists in, and the one replies fall back to.
pub const FALLBACK_LANGUAGE: &str = "en";

/// The built-in resources: (language, FTL source).
const RESOURCES: [(&str, &str); 4] = [
    ("en", include_str!("../locales/en/responder.ftl")),
    ("de", include_str!("../locales/de/responder.ftl")),
    ("fr", include_str!("../locales/fr/responder.ftl")),
    ("es", include_str!("../locales/es/responder.ftl")),
];

/// The responder's sentences, by language.
pub struct Templates {
    bundles: HashMap<&'static str, FluentBundle<FluentResource>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut languages: Vec<&&str> = self.bundles.keys().collect();
        languages.sort();
        f.debug_struct("Templates")
            .field("languages", &languages)
            .finish()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    /// The built-in templates.
    pub fn new() -> Self {
        let bundles = RESOURCES
            .iter()
            .map(|(language, source)| {
                let resource = FluentResource::try_new((*source).to_owned())
                    .expect("built-in templates parse (a unit test checks each)");
                let locale = language
                    .parse()
                    .expect("built-in template languages are valid language tags");
                let mut bundle = FluentBundle::new_concurrent(vec![locale]);
                // Isolation marks around arguments help right-to-left scripts; none of ours
                // is, and the marks would show up in plain-text chat clients.
                bundle.set_use_isolating(false);
                bundle
                    .add_resource(resource)
                    .expect("built-in templates have unique ids");
                (*language, bundle)
            })
            .collect();
        Self { bundles }
    }

    /// True when the templates exist in `language` (ISO 639-1).
    pub fn speaks(&self, language: &str) -> bool {
        self.bundles.contains_key(language)
    }

    /// Message `id` in `language` (English when that language lacks it), with `args` filled
    /// in. An id no language has renders as itself: a visible bug, never a panic.
    pub fn render(&self, language: &str, id: &str, args: &[(&str, &str)]) -> String {
        let bundle = self
            .bundles
            .get(language)
            .filter(|bundle| bundle.has_message(id))
            .or_else(|| self.bundles.get(FALLBACK_LANGUAGE));
        let Some(bundle) = bundle else {
            return id.to_owned();
        };
        let Some(pattern) = bundle.get_message(id).and_then(|message| message.value()) else {
            return id.to_owned();
        };
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            fluent_args.set(*name, *value);
        }
        let mut errors = Vec::new();
        bundle
            .format_pattern(pattern, Some(&fluent_args), &mut errors)
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(source: &str) -> Vec<String> {
        let resource = FluentResource::try_new(source.to_owned()).unwrap();
        let mut ids: Vec<String> = resource
            .entries()
            .filter_map(|entry| match entry {
                fluent_syntax::ast::Entry::Message(message) => Some(message.id.name.to_owned()),
                _ => None,
            })
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn every_language_parses_and_has_every_message() {
        let english = ids(RESOURCES[0].1);
        assert!(english.len() > 10);
        for (language, source) in RESOURCES {
            assert!(
                FluentResource::try_new(source.to_owned()).is_ok(),
                "{language} does not parse"
            );
            assert_eq!(ids(source), english, "{language} differs from English");
        }
    }

    #[test]
    fn arguments_are_filled_and_missing_languages_fall_back() {
        let templates = Templates::new();
        assert_eq!(
            templates.render("de", "greeting", &[("name", "Anna")]),
            "Hallo Anna,"
        );
        assert_eq!(
            templates.render(
                "en",
                "card-with-number",
                &[("status", "blocked"), ("last4", "4242")]
            ),
            "blocked (card ending 4242)"
        );
        assert_eq!(templates.render("it", "greeting-anonymous", &[]), "Hello,");
        assert_eq!(
            templates.render("en", "no-such-message", &[]),
            "no-such-message"
        );
        assert!(templates.speaks("fr"));
        assert!(!templates.speaks("it"));
    }
}
