//! Public holidays by rule, for the built-in business calendars (S5): fixed dates, dates
//! relative to Easter, and the n-th or last weekday of a month, for any year. Calendars carry
//! them as dates; a partner edits its own calendars' holidays through the API.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// How a holiday's date is found in a given year.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Month and day.
    Fixed(u32, u32),
    /// Days after Easter Sunday (negative: before).
    Easter(i64),
    /// The n-th (1-based) weekday of a month.
    Nth(u32, Weekday, u8),
    /// The last weekday of a month.
    Last(u32, Weekday),
}

const US: &[(Rule, &str)] = &[
    (Rule::Fixed(1, 1), "New Year's Day"),
    (Rule::Nth(1, Weekday::Mon, 3), "Martin Luther King Jr. Day"),
    (Rule::Nth(2, Weekday::Mon, 3), "Presidents' Day"),
    (Rule::Last(5, Weekday::Mon), "Memorial Day"),
    (Rule::Fixed(6, 19), "Juneteenth"),
    (Rule::Fixed(7, 4), "Independence Day"),
    (Rule::Nth(9, Weekday::Mon, 1), "Labor Day"),
    (Rule::Nth(11, Weekday::Thu, 4), "Thanksgiving Day"),
    (Rule::Fixed(12, 25), "Christmas Day"),
];

const GB: &[(Rule, &str)] = &[
    (Rule::Fixed(1, 1), "New Year's Day"),
    (Rule::Easter(-2), "Good Friday"),
    (Rule::Easter(1), "Easter Monday"),
    (Rule::Nth(5, Weekday::Mon, 1), "Early May bank holiday"),
    (Rule::Last(5, Weekday::Mon), "Spring bank holiday"),
    (Rule::Last(8, Weekday::Mon), "Summer bank holiday"),
    (Rule::Fixed(12, 25), "Christmas Day"),
    (Rule::Fixed(12, 26), "Boxing Day"),
];

const DE: &[(Rule, &str)] = &[
    (Rule::Fixed(1, 1), "Neujahr"),
    (Rule::Easter(-2), "Karfreitag"),
    (Rule::Easter(1), "Ostermontag"),
    (Rule::Fixed(5, 1), "Tag der Arbeit"),
    (Rule::Easter(39), "Christi Himmelfahrt"),
    (Rule::Easter(50), "Pfingstmontag"),
    (Rule::Fixed(10, 3), "Tag der Deutschen Einheit"),
    (Rule::Fixed(12, 25), "Erster Weihnachtstag"),
    (Rule::Fixed(12, 26), "Zweiter Weihnachtstag"),
];

const FR: &[(Rule, &str)] = &[
    (Rule::Fixed(1, 1), "Jour de l'an"),
    (Rule::Easter(1), "Lundi de Pâques"),
    (Rule::Fixed(5, 1), "Fête du Travail"),
    (Rule::Fixed(5, 8), "Victoire 1945"),
    (Rule::Easter(39), "Ascension"),
    (Rule::Easter(50), "Lundi de Pentecôte"),
    (Rule::Fixed(7, 14), "Fête nationale"),
    (Rule::Fixed(8, 15), "Assomption"),
    (Rule::Fixed(11, 1), "Toussaint"),
    (Rule::Fixed(11, 11), "Armistice 1918"),
    (Rule::Fixed(12, 25), "Noël"),
];

const ES: &[(Rule, &str)] = &[
    (Rule::Fixed(1, 1), "Año Nuevo"),
    (Rule::Fixed(1, 6), "Epifanía del Señor"),
    (Rule::Easter(-2), "Viernes Santo"),
    (Rule::Fixed(5, 1), "Fiesta del Trabajo"),
    (Rule::Fixed(8, 15), "Asunción de la Virgen"),
    (Rule::Fixed(10, 12), "Fiesta Nacional de España"),
    (Rule::Fixed(11, 1), "Todos los Santos"),
    (Rule::Fixed(12, 6), "Día de la Constitución"),
    (Rule::Fixed(12, 8), "Inmaculada Concepción"),
    (Rule::Fixed(12, 25), "Navidad"),
];

const JP: &[(Rule, &str)] = &[
    (Rule::Fixed(1, 1), "New Year's Day"),
    (Rule::Nth(1, Weekday::Mon, 2), "Coming of Age Day"),
    (Rule::Fixed(2, 11), "National Foundation Day"),
    (Rule::Fixed(2, 23), "Emperor's Birthday"),
    (Rule::Fixed(4, 29), "Showa Day"),
    (Rule::Fixed(5, 3), "Constitution Memorial Day"),
    (Rule::Fixed(5, 4), "Greenery Day"),
    (Rule::Fixed(5, 5), "Children's Day"),
    (Rule::Nth(7, Weekday::Mon, 3), "Marine Day"),
    (Rule::Fixed(8, 11), "Mountain Day"),
    (Rule::Nth(9, Weekday::Mon, 3), "Respect for the Aged Day"),
    (Rule::Nth(10, Weekday::Mon, 2), "Sports Day"),
    (Rule::Fixed(11, 3), "Culture Day"),
    (Rule::Fixed(11, 23), "Labour Thanksgiving Day"),
];

const BR: &[(Rule, &str)] = &[
    (Rule::Fixed(1, 1), "Confraternização Universal"),
    (Rule::Easter(-48), "Carnaval"),
    (Rule::Easter(-47), "Carnaval"),
    (Rule::Easter(-2), "Sexta-feira Santa"),
    (Rule::Fixed(4, 21), "Tiradentes"),
    (Rule::Fixed(5, 1), "Dia do Trabalho"),
    (Rule::Easter(60), "Corpus Christi"),
    (Rule::Fixed(9, 7), "Independência do Brasil"),
    (Rule::Fixed(10, 12), "Nossa Senhora Aparecida"),
    (Rule::Fixed(11, 2), "Finados"),
    (Rule::Fixed(11, 15), "Proclamação da República"),
    (Rule::Fixed(11, 20), "Dia da Consciência Negra"),
    (Rule::Fixed(12, 25), "Natal"),
];

const AU: &[(Rule, &str)] = &[
    (Rule::Fixed(1, 1), "New Year's Day"),
    (Rule::Fixed(1, 26), "Australia Day"),
    (Rule::Easter(-2), "Good Friday"),
    (Rule::Easter(-1), "Easter Saturday"),
    (Rule::Easter(1), "Easter Monday"),
    (Rule::Fixed(4, 25), "Anzac Day"),
    (Rule::Nth(6, Weekday::Mon, 2), "King's Birthday"),
    (Rule::Nth(10, Weekday::Mon, 1), "Labour Day"),
    (Rule::Fixed(12, 25), "Christmas Day"),
    (Rule::Fixed(12, 26), "Boxing Day"),
];

const IN: &[(Rule, &str)] = &[
    (Rule::Fixed(1, 26), "Republic Day"),
    (Rule::Easter(-2), "Good Friday"),
    (Rule::Fixed(5, 1), "Labour Day"),
    (Rule::Fixed(8, 15), "Independence Day"),
    (Rule::Fixed(10, 2), "Gandhi Jayanti"),
    (Rule::Fixed(12, 25), "Christmas Day"),
];

/// Easter Sunday of `year` (Gregorian; the anonymous algorithm).
pub fn easter(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32)
}

fn date_of(rule: Rule, year: i32) -> Option<NaiveDate> {
    match rule {
        Rule::Fixed(month, day) => NaiveDate::from_ymd_opt(year, month, day),
        Rule::Easter(offset) => easter(year).map(|e| e + Duration::days(offset)),
        Rule::Nth(month, weekday, n) => NaiveDate::from_weekday_of_month_opt(year, month, weekday, n),
        Rule::Last(month, weekday) => {
            let next = if month == 12 {
                NaiveDate::from_ymd_opt(year + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(year, month + 1, 1)
            }?;
            let mut day = next.pred_opt()?;
            while day.weekday() != weekday {
                day = day.pred_opt()?;
            }
            Some(day)
        }
    }
}

/// The public holidays of a country (ISO 3166 alpha-2) in `year`, in date order; empty for a
/// country without built-in rules.
pub fn public_holidays(country: &str, year: i32) -> Vec<(NaiveDate, &'static str)> {
    let rules = match country {
        "US" => US,
        "GB" => GB,
        "DE" => DE,
        "FR" => FR,
        "ES" => ES,
        "JP" => JP,
        "BR" => BR,
        "AU" => AU,
        "IN" => IN,
        _ => &[],
    };
    let mut days: Vec<(NaiveDate, &'static str)> =
        rules.iter().filter_map(|(rule, name)| date_of(*rule, year).map(|d| (d, *name))).collect();
    days.sort();
    days.dedup_by_key(|(d, _)| *d);
    days
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn easter_dates() {
        assert_eq!(easter(2026), Some(d(2026, 4, 5)));
        assert_eq!(easter(2027), Some(d(2027, 3, 28)));
        assert_eq!(easter(2030), Some(d(2030, 4, 21)));
    }

    #[test]
    fn rules_give_the_known_dates() {
        let us = public_holidays("US", 2027);
        assert!(us.contains(&(d(2027, 11, 25), "Thanksgiving Day")));
        assert!(us.contains(&(d(2027, 5, 31), "Memorial Day")));
        let de = public_holidays("DE", 2028);
        assert!(de.contains(&(d(2028, 4, 14), "Karfreitag")));
        assert!(de.contains(&(d(2028, 5, 25), "Christi Himmelfahrt")));
        assert!(public_holidays("XX", 2027).is_empty());
    }
}
