//! "Did you mean" suggestions for misspelled step, flow, action and slot
//! names, by Levenshtein edit distance.

/// Returns the candidate closest to `name`, if it is close enough to be a
/// likely misspelling: at most one edit per three characters of `name`, and
/// at least one edit allowed. A candidate equal to `name` except for case
/// always qualifies.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let max_distance = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        let distance = if candidate.eq_ignore_ascii_case(name) {
            0
        } else {
            edit_distance(name, candidate)
        };
        if distance > max_distance {
            continue;
        }
        if best.is_none_or(|(best_distance, _)| distance < best_distance) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Builds a hint naming the closest candidate, or else listing the first few
/// candidates. `kind` names what the candidates are, in the plural ("steps").
pub(crate) fn hint(name: &str, candidates: &[&str], kind: &str) -> String {
    if let Some(best) = closest(name, candidates.iter().copied()) {
        return format!("did you mean `{best}`?");
    }
    if candidates.is_empty() {
        return format!("there are no {kind} to choose from");
    }
    const SHOWN: usize = 5;
    let mut listed: Vec<String> = candidates
        .iter()
        .take(SHOWN)
        .map(|c| format!("`{c}`"))
        .collect();
    if candidates.len() > SHOWN {
        listed.push(format!("and {} more", candidates.len() - SHOWN));
    }
    format!("existing {kind}: {}", listed.join(", "))
}

/// Levenshtein distance in characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            let deletion = previous[j + 1] + 1;
            let insertion = current[j] + 1;
            current[j + 1] = substitution.min(deletion).min(insertion);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("greet_user", "greet_usr"), 1);
        assert_eq!(edit_distance("اسم", "اسن"), 1);
    }

    #[test]
    fn closest_picks_near_candidate() {
        let steps = ["collect_name", "greet_user", "goodbye"];
        assert_eq!(closest("greet_usr", steps), Some("greet_user"));
        assert_eq!(closest("Goodbye", steps), Some("goodbye"));
        assert_eq!(closest("something_else", steps), None);
    }

    #[test]
    fn hint_lists_candidates_when_none_is_close() {
        let steps = ["a1", "b2", "c3", "d4", "e5", "f6"];
        assert_eq!(
            hint("unrelated", &steps, "steps"),
            "existing steps: `a1`, `b2`, `c3`, `d4`, `e5`, and 1 more"
        );
        assert_eq!(
            hint("x", &[], "actions"),
            "there are no actions to choose from"
        );
        assert_eq!(
            hint("greet_usr", &["greet_user"], "steps"),
            "did you mean `greet_user`?"
        );
    }
}
