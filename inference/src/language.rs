//! Language identification with `whichlang`: a small linear model over character n-grams,
//! about a microsecond a call, 16 languages.

use whichlang::Lang;

/// A detected language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Language {
    /// ISO 639-1 code where one exists (`en`, `de`, `zh`), else ISO 639-3.
    pub code: &'static str,
    /// ISO 639-3 code (`eng`, `deu`, `cmn`).
    pub iso639_3: &'static str,
    /// English name.
    pub name: &'static str,
}

/// The language of `text`; `None` for text with nothing to go on (empty, digits, punctuation).
pub fn detect(text: &str) -> Option<Language> {
    if !text.chars().any(char::is_alphabetic) {
        return None;
    }
    let lang = whichlang::detect_language(text);
    let (code, name) = match lang {
        Lang::Ara => ("ar", "Arabic"),
        Lang::Cmn => ("zh", "Chinese (Mandarin)"),
        Lang::Deu => ("de", "German"),
        Lang::Eng => ("en", "English"),
        Lang::Fra => ("fr", "French"),
        Lang::Hin => ("hi", "Hindi"),
        Lang::Ita => ("it", "Italian"),
        Lang::Jpn => ("ja", "Japanese"),
        Lang::Kor => ("ko", "Korean"),
        Lang::Nld => ("nl", "Dutch"),
        Lang::Por => ("pt", "Portuguese"),
        Lang::Rus => ("ru", "Russian"),
        Lang::Spa => ("es", "Spanish"),
        Lang::Swe => ("sv", "Swedish"),
        Lang::Tur => ("tr", "Turkish"),
        Lang::Vie => ("vi", "Vietnamese"),
    };
    Some(Language {
        code,
        iso639_3: lang.three_letter_code(),
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_messages_in_several_languages() {
        let cases = [
            ("My card was charged twice for the same transfer", "en"),
            (
                "Meine Karte wurde zweimal für dieselbe Überweisung belastet",
                "de",
            ),
            (
                "Ma carte a été débitée deux fois pour le même virement",
                "fr",
            ),
            (
                "Mi tarjeta fue cobrada dos veces por la misma transferencia",
                "es",
            ),
            (
                "Il mio conto è stato addebitato due volte per lo stesso bonifico",
                "it",
            ),
            (
                "Mijn rekening is twee keer belast voor dezelfde overboeking",
                "nl",
            ),
            ("Мою карту списали дважды за один и тот же перевод", "ru"),
            ("同一笔转账我的卡被扣了两次", "zh"),
            ("同じ振込でカードが二重に請求されました", "ja"),
        ];
        for (text, want) in cases {
            assert_eq!(detect(text).map(|l| l.code), Some(want), "{text}");
        }
    }

    #[test]
    fn nothing_to_go_on_is_none() {
        assert_eq!(detect(""), None);
        assert_eq!(detect("12345 !!! ..."), None);
    }
}
