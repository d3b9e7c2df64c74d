//! What free text a person types may hold: titles, names and descriptions are shown to support
//! engineers and customers, so text that looks empty or reads differently from what it stores
//! is refused.

/// Why a text was refused; the caller names the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    /// Nothing but white space or invisible characters.
    Empty,
    /// More characters than the field holds.
    TooLong { max: usize },
    /// A control character (line breaks and tabs are allowed in multi-line text).
    Control,
    /// A bidirectional embedding, override or isolate control (U+202A–U+202E, U+2066–U+2069):
    /// they make text display in another order than it is stored ("Trojan Source").
    BidiControl,
}

impl TextProblem {
    /// The problem in words, after the field's name.
    pub fn describe(&self) -> String {
        match self {
            TextProblem::Empty => "must not be empty or made only of invisible characters".into(),
            TextProblem::TooLong { max } => format!("is at most {max} characters"),
            TextProblem::Control => "contains control characters".into(),
            TextProblem::BidiControl => {
                "contains bidirectional override characters (U+202A–U+202E, U+2066–U+2069)".into()
            }
        }
    }
}

/// A character that shows nothing: white space, zero-width and other format characters,
/// fillers and blanks that render as empty space.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(c,
            '\u{00AD}' // soft hyphen
            | '\u{034F}' // combining grapheme joiner
            | '\u{061C}' // Arabic letter mark
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
            | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
            | '\u{180B}'..='\u{180F}' // Mongolian variation selectors and vowel separator
            | '\u{200B}'..='\u{200F}' // zero-width space, joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, isolates, deprecated formats
            | '\u{2800}' // braille blank
            | '\u{FE00}'..='\u{FE0F}' // variation selectors
            | '\u{FEFF}' // zero-width no-break space
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
            | '\u{1D173}'..='\u{1D17A}' // musical formatting
            | '\u{E0000}'..='\u{E007F}' // tags
            | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
        )
}

/// A bidirectional embedding, override or isolate control.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks a text field and returns it trimmed: not empty or invisible, at most `max`
/// characters, no control characters (but line breaks and tabs when `multiline`), no
/// bidirectional controls.
pub fn check(value: &str, max: usize, multiline: bool) -> Result<String, TextProblem> {
    let trimmed = value.trim();
    if trimmed.chars().all(is_invisible) {
        return Err(TextProblem::Empty);
    }
    if trimmed.chars().count() > max {
        return Err(TextProblem::TooLong { max });
    }
    if trimmed.chars().any(is_bidi_control) {
        return Err(TextProblem::BidiControl);
    }
    if trimmed.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))) {
        return Err(TextProblem::Control);
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_only_text_is_empty() {
        for blank in ["", "   ", "\u{200B}\u{200B}", "\u{2800}\u{3164}", "\u{FEFF} \u{200D}", "\u{E0041}\u{FE0F}"] {
            assert_eq!(check(blank, 200, false), Err(TextProblem::Empty), "{blank:?}");
        }
        // Invisible characters inside visible text are text (emoji sequences use joiners).
        assert_eq!(check(" VM\u{200D}down ", 200, false).as_deref(), Ok("VM\u{200D}down"));
    }

    #[test]
    fn bidirectional_controls_are_refused_anywhere() {
        for c in
            ['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}']
        {
            let text = format!("invoice{c}fdp.exe");
            assert_eq!(check(&text, 200, false), Err(TextProblem::BidiControl), "{c:?}");
            assert_eq!(check(&text, 200, true), Err(TextProblem::BidiControl), "{c:?}");
        }
        assert!(check("مرحبا hello שלום", 200, false).is_ok(), "right-to-left text itself is fine");
    }

    #[test]
    fn length_and_control_characters() {
        assert_eq!(check(&"é".repeat(201), 200, false), Err(TextProblem::TooLong { max: 200 }));
        assert!(check(&"é".repeat(200), 200, false).is_ok());
        assert_eq!(check("a\u{0}b", 200, true), Err(TextProblem::Control));
        assert_eq!(check("a\nb", 200, false), Err(TextProblem::Control));
        assert!(check("a\nb\tc", 200, true).is_ok());
    }
}
