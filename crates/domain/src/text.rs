//! Text helpers for personal data: masking phone numbers, ID numbers and addresses.

/// `13812345678` → `138****5678`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let keep_tail = 4;
    let keep_head = 3;
    let mut out: String = chars[..keep_head].iter().collect();
    out.push_str(&"*".repeat(chars.len() - keep_head - keep_tail));
    out.extend(&chars[chars.len() - keep_tail..]);
    out
}

/// An 18-character resident ID: keep the first 6 (the place) and the last 2.
pub fn mask_id_number(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..6].iter().collect();
    out.push_str(&"*".repeat(chars.len() - 8));
    out.extend(&chars[chars.len() - 2..]);
    out
}

/// Keep the village part of an address and hide the house number.
pub fn mask_address(address: &str) -> String {
    match address.rfind(|c: char| c.is_ascii_digit()) {
        Some(_) => {
            let cut = address
                .char_indices()
                .find(|(_, c)| c.is_ascii_digit())
                .map(|(i, _)| i)
                .unwrap_or(address.len());
            format!("{}***", &address[..cut])
        }
        None => address.to_owned(),
    }
}

/// Only the first character of a name: `才让道杰` → `才***`.
pub fn mask_name(name: &str) -> String {
    match name.chars().next() {
        Some(c) => format!("{c}***"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_what_identifies_nobody() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_id_number("623027199001011234"), "623027**********34");
        assert_eq!(
            mask_address("夏河县达麦乡达麦村12号"),
            "夏河县达麦乡达麦村***"
        );
        assert_eq!(mask_name("才让道杰"), "才***");
        assert_eq!(mask_phone("123"), "***");
    }
}
