//! Writing an answer: the entry's text in the reply language, its `{placeholders}` filled
//! from the customer's account row, a greeting by name, and a note when the entry had to be
//! given in English.
//!
//! A placeholder is only ever filled from a fact the desk holds. One it has no fact for (no
//! account row, an unknown name) reads as "an agent can check it", never as a guess.

use finpulse_core::support::{CustomerAccount, FaqEntry};

use crate::templates::Templates;

/// A composed answer and the account facts it quotes.
pub struct Composed {
    pub text: String,
    pub facts: Vec<String>,
}

/// The answer of `entry` for a customer with `account`, in `language`.
pub fn answer(
    templates: &Templates,
    language: &str,
    entry: &FaqEntry,
    fell_back: bool,
    account: Option<&CustomerAccount>,
) -> Composed {
    let mut facts = Vec::new();
    let body = fill(&entry.answer, |name| {
        let value = fact(templates, language, name, account);
        if value.is_some() {
            facts.push(name.to_owned());
        }
        value.unwrap_or_else(|| templates.render(language, "fact-unknown", &[]))
    });
    let first_name = account.and_then(|a| a.name.split_whitespace().next());
    let greeting = match first_name {
        Some(name) => {
            facts.push("name".to_owned());
            templates.render(language, "greeting", &[("name", name)])
        }
        None => templates.render(language, "greeting-anonymous", &[]),
    };
    let mut parts = vec![greeting];
    if fell_back {
        parts.push(templates.render(language, "fallback-language", &[]));
    }
    parts.push(body);
    facts.sort();
    facts.dedup();
    Composed {
        text: parts.join("\n"),
        facts,
    }
}

/// The value of placeholder `name` from the account, when the desk has it.
fn fact(
    templates: &Templates,
    language: &str,
    name: &str,
    account: Option<&CustomerAccount>,
) -> Option<String> {
    let account = account?;
    match name {
        "name" => Some(account.name.clone()),
        "card_status" if account.cards.is_empty() => {
            Some(templates.render(language, "no-card", &[]))
        }
        "card_status" => Some(
            account
                .cards
                .iter()
                .map(|card| {
                    let status = templates.render(
                        language,
                        &format!("card-status-{}", card.status.as_str()),
                        &[],
                    );
                    templates.render(
                        language,
                        "card-with-number",
                        &[("status", &status), ("last4", &card.last4)],
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => None,
    }
}

/// `text` with each `{name}` (lowercase letters and underscores) replaced by `value(name)`;
/// other braces are left as they are.
fn fill(text: &str, mut value: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with('}') {
            out.push_str(&value(&after[..name_len]));
            rest = &after[name_len + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use finpulse_core::support::{Card, CardStatus, CustomerTier};

    fn entry(language: &str, answer: &str) -> FaqEntry {
        FaqEntry {
            id: "card-declined".into(),
            language: language.into(),
            intent: "card_payment_failed".into(),
            tags: Vec::new(),
            questions: vec!["Why was my card declined?".into()],
            answer: answer.into(),
        }
    }

    fn alice(cards: Vec<Card>) -> CustomerAccount {
        CustomerAccount {
            customer: "alice".into(),
            name: "Alice Martin".into(),
            tier: CustomerTier::Standard,
            cards,
        }
    }

    #[test]
    fn placeholders_are_filled_from_the_account_row() {
        let templates = Templates::new();
        let account = alice(vec![Card {
            id: "c1".into(),
            last4: "4242".into(),
            status: CardStatus::Blocked,
        }]);
        let composed = answer(
            &templates,
            "de",
            &entry("de", "Ihre Karte ist derzeit: {card_status}."),
            false,
            Some(&account),
        );
        assert_eq!(
            composed.text,
            "Hallo Alice,\nIhre Karte ist derzeit: gesperrt (Karte mit Endziffern 4242)."
        );
        assert_eq!(composed.facts, ["card_status", "name"]);
    }

    #[test]
    fn a_missing_fact_is_never_guessed() {
        let templates = Templates::new();
        let composed = answer(
            &templates,
            "en",
            &entry(
                "en",
                "Your card is {card_status}; your adviser is {adviser}. {not a placeholder}",
            ),
            true,
            None,
        );
        let unknown = templates.render("en", "fact-unknown", &[]);
        assert_eq!(
            composed.text,
            format!(
                "Hello,\n{}\nYour card is {unknown}; your adviser is {unknown}. {{not a placeholder}}",
                templates.render("en", "fallback-language", &[])
            )
        );
        assert!(composed.facts.is_empty());
        let no_cards = answer(
            &templates,
            "en",
            &entry("en", "{card_status}"),
            false,
            Some(&alice(vec![])),
        );
        assert!(
            no_cards
                .text
                .ends_with(&templates.render("en", "no-card", &[]))
        );
    }
}
