//! Asking for a person: "agent", "human", "Mitarbeiter", "conseiller", "agente"… in any
//! supported language, at any time.
//!
//! Strong phrases ("talk to a human", "echten Menschen") count anywhere in a message. Words
//! that also have everyday meanings ("agent", "person", "Berater") count only in a short
//! message, where they are almost always the request itself: "agent please" hands off, "can I
//! open an account in person?" does not.

/// Words or phrases that ask for a person wherever they appear.
const STRONG: &[&str] = &[
    // English
    "human",
    "humans",
    "real person",
    "a person",
    "someone real",
    "talk to someone",
    "speak to someone",
    "speak with someone",
    "talk to an agent",
    "speak to an agent",
    "customer service agent",
    "live agent",
    // German
    "mensch",
    "menschen",
    "echte person",
    "echten person",
    "mit jemandem sprechen",
    "mitarbeiter sprechen",
    "mitarbeiterin sprechen",
    // French
    "humain",
    "humaine",
    "vraie personne",
    "une personne",
    "parler à quelqu'un",
    "parler a quelqu'un",
    "parler à un conseiller",
    "parler a un conseiller",
    // Spanish
    "humano",
    "humana",
    "persona real",
    "una persona",
    "hablar con alguien",
    "hablar con un agente",
];

/// Words that ask for a person in a short message.
const WEAK: &[&str] = &[
    "agent",
    "agents",
    "person",
    "operator",
    "representative",
    "rep",
    "support",
    "mitarbeiter",
    "mitarbeiterin",
    "berater",
    "beraterin",
    "kundenberater",
    "kundenservice",
    "conseiller",
    "conseillère",
    "conseillere",
    "opérateur",
    "agente",
    "asesor",
    "asesora",
    "operador",
    "persona",
];

/// Most words a message may have for a weak word to count.
const SHORT_MESSAGE_WORDS: usize = 6;

/// The message's words, lowercased, punctuation (but not apostrophes) dropped.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .filter(|word| !word.is_empty())
        .map(|word| word.replace('’', "'"))
        .collect()
}

/// True when `text` asks for a human agent.
pub fn asks_for_human(text: &str) -> bool {
    let words = words(text);
    if words.is_empty() {
        return false;
    }
    let joined = format!(" {} ", words.join(" "));
    if STRONG
        .iter()
        .any(|phrase| joined.contains(&format!(" {phrase} ")))
    {
        return true;
    }
    words.len() <= SHORT_MESSAGE_WORDS && words.iter().any(|word| WEAK.contains(&word.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_in_every_language_are_recognised() {
        for text in [
            "I want a human",
            "agent",
            "Agent please!",
            "Can I talk to someone?",
            "let me speak to a real person",
            "Ich möchte mit einem Menschen sprechen",
            "Mitarbeiter bitte",
            "Je veux parler à un conseiller",
            "un humain svp",
            "Quiero hablar con un agente",
            "¿Puedo hablar con una persona?",
            "HUMANO",
        ] {
            assert!(asks_for_human(text), "{text}");
        }
    }

    #[test]
    fn everyday_uses_of_the_words_do_not_hand_off() {
        for text in [
            "Can I open an account in person at a branch near me?",
            "My card payment was declined at the supermarket",
            "How do I add a payment agent mandate to my business account today?",
            "Does the support for Apple Pay include my debit card as well?",
            "",
            "???",
        ] {
            assert!(!asks_for_human(text), "{text}");
        }
    }
}
