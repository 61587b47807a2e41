//! Process exit codes of the command-line contract (design brief §1).

/// The outcome of a command, mapped one to one onto the documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// 0: done and complete.
    Done,
    /// 75: skipped because another run holds the job's lock.
    Locked,
    /// 3: finished but recorded data gaps.
    Gaps,
    /// 1: runtime failure; what completed stays committed.
    Failed,
    /// 2: invalid job file or usage; nothing written.
    Invalid,
}

impl Outcome {
    /// The numeric exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::Failed => 1,
            Outcome::Invalid => 2,
            Outcome::Gaps => 3,
            Outcome::Locked => 75,
        }
    }

    /// Combines the outcomes of several jobs: the highest-priority code wins (2 > 1 > 3 > 75 > 0).
    pub fn worst(self, other: Outcome) -> Outcome {
        self.max(other)
    }
}

impl From<Outcome> for std::process::ExitCode {
    fn from(o: Outcome) -> Self {
        std::process::ExitCode::from(o.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome::*;

    #[test]
    fn priority_order_matches_the_contract() {
        assert_eq!(Done.worst(Locked), Locked);
        assert_eq!(Locked.worst(Gaps), Gaps);
        assert_eq!(Gaps.worst(Failed), Failed);
        assert_eq!(Failed.worst(Done), Failed);
        assert_eq!(Invalid.worst(Failed).code(), 2);
        assert_eq!(
            [Done, Failed, Invalid, Gaps, Locked].map(|o| o.code()),
            [0, 1, 2, 3, 75]
        );
    }
}
