//! Errors: inputs the solver refuses. How a solve *ended* is a [`crate::Status`], not an error.

/// An error raised by a user's dynamics or cost model, passed through unchanged.
pub type ModelError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a solve could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SolveError {
    /// A dimension disagrees with the problem's.
    #[error("{what}: expected dimension {expected}, found {found}")]
    Dimension {
        /// What has the wrong dimension.
        what: &'static str,
        /// The dimension the problem has.
        expected: usize,
        /// The dimension given.
        found: usize,
    },
    /// The horizon exceeds what the workspace or solution was sized for.
    #[error("horizon {horizon} exceeds the maximum horizon {max} the buffers were sized for")]
    HorizonTooLong {
        /// The horizon asked for.
        horizon: usize,
        /// The largest horizon the buffers hold.
        max: usize,
    },
    /// A NaN or infinity where a finite number is needed.
    #[error("{what} at stage {stage} is not finite (NaN or infinity)")]
    NonFinite {
        /// What holds the value.
        what: &'static str,
        /// The stage it belongs to.
        stage: usize,
    },
    /// Control bounds with lower > upper, or a NaN bound.
    #[error("control bound {index} is invalid: lower {lower} must not exceed upper {upper}")]
    InvalidBounds {
        /// The control index.
        index: usize,
        /// Its lower bound.
        lower: f64,
        /// Its upper bound.
        upper: f64,
    },
    /// A setting outside its valid range.
    #[error("invalid setting {name}: {reason}")]
    InvalidSettings {
        /// The setting.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// LQR only: R_t + B_t'P_{t+1}B_t is not positive definite, so u has no unique minimiser.
    #[error(
        "Q_uu at stage {stage} is not positive definite: the problem is not strictly convex in u"
    )]
    NotPositiveDefinite {
        /// The stage.
        stage: usize,
    },
    /// The dynamics model failed.
    #[error("dynamics failed at stage {stage}: {source}")]
    Dynamics {
        /// The stage being evaluated (the first stage for a whole-trajectory call).
        stage: usize,
        /// The model's error.
        source: ModelError,
    },
    /// The cost model failed.
    #[error("cost failed at stage {stage}: {source}")]
    Cost {
        /// The stage being evaluated (the first stage for a whole-trajectory call).
        stage: usize,
        /// The model's error.
        source: ModelError,
    },
}

impl SolveError {
    pub(crate) fn check_dim(what: &'static str, expected: usize, found: usize) -> Result<(), Self> {
        if expected == found {
            Ok(())
        } else {
            Err(Self::Dimension {
                what,
                expected,
                found,
            })
        }
    }
}
