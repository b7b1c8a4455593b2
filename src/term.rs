//! The width output must fit (`status`): `COLUMNS` when it is set, else the terminal's width when standard output is
//! a terminal, else none — off a terminal lines are printed whole, for files, `grep` and scripts (`--json` is the
//! stable form for machines).

use std::io::IsTerminal;

/// The narrowest width honoured: below it lines are printed whole.
const MIN_WIDTH: usize = 20;

/// The width to fit, if any.
pub fn width() -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
    {
        return (c >= MIN_WIDTH).then_some(c);
    }
    if !std::io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct it is given; a failure leaves it zeroed.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    let cols = usize::from(ws.ws_col);
    (ok && cols >= MIN_WIDTH).then_some(cols)
}

/// `line` cut into lines of at most `width` characters: at the last space that fits, else (a word longer than the
/// line, e.g. an ARN) within the word; continuation lines are indented by `indent` spaces.
pub fn wrap(line: &str, width: Option<usize>, indent: usize) -> Vec<String> {
    let Some(width) = width.filter(|w| *w > indent + 1) else {
        return vec![line.to_owned()];
    };
    let mut out = Vec::new();
    let mut rest: Vec<char> = line.trim_end().chars().collect();
    let mut first = true;
    loop {
        let room = if first { width } else { width - indent };
        if rest.len() <= room {
            let text: String = rest.iter().collect();
            out.push(if first {
                text
            } else {
                format!("{}{text}", " ".repeat(indent))
            });
            return out;
        }
        // The last space that leaves something on this line (not the leading indentation of a continuation).
        let leading = rest.iter().take_while(|c| **c == ' ').count();
        let cut = rest[..=room]
            .iter()
            .rposition(|c| *c == ' ')
            .filter(|p| *p > leading)
            .unwrap_or(room);
        let head: String = rest[..cut].iter().collect::<String>().trim_end().to_owned();
        out.push(if first {
            head
        } else {
            format!("{}{head}", " ".repeat(indent))
        });
        let skip = rest[cut..].iter().take_while(|c| **c == ' ').count();
        rest.drain(..cut + skip);
        first = false;
        if rest.is_empty() {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn lines_fit_the_width_at_spaces_or_within_long_words() {
        assert_eq!(wrap("short", Some(80), 4), vec!["short"]);
        assert_eq!(wrap("a b c", None, 4), vec!["a b c"]);
        let line = format!(
            "{:<22} {:<24} {:<10} {}",
            "secret",
            "secretsmanager:secret",
            "present",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:neo4j-gw/stack-one/neo4j-AbCdEf; neo4j-gw/stack-one/neo4j"
        );
        let lines = wrap(&line, Some(40), 4);
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{lines:#?}");
        assert!(
            lines[1..].iter().all(|l| l.starts_with("    ")),
            "{lines:#?}"
        );
        // Nothing is lost but the spaces at the cuts.
        let joined: String = lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join("");
        let want: String = line.split_whitespace().collect();
        assert_eq!(joined.replace(' ', ""), want);
    }
}
