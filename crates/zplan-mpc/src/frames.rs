//! The stacked observation a bundle takes, kept from one camera frame at a time.
//!
//! A bundle of F frames encodes [1, F * C, H, W]: the last F camera frames along the channel
//! axis, oldest first. [`FrameStack`] keeps them as the benchmark tasks' environments do: a new
//! frame goes last and the oldest drops out; after a reset the first frame fills every slot; a
//! goal is its frame repeated F times. Both buffers are sized once; pushing a frame copies it
//! and allocates nothing.

use ndarray::{Array4, ArrayView4};
use zplan_onnx::ObservationSpec;

use crate::planner::PlanError;

/// The last frames seen and a goal, each stacked as the encoder takes them.
pub struct FrameStack {
    /// Values in one camera frame, C * H * W.
    frame_len: usize,
    /// [1, F * C, H, W], oldest frame first.
    stack: Array4<u8>,
    /// [1, F * C, H, W]: the goal frame repeated.
    goal: Array4<u8>,
    /// Whether a frame arrived since the last reset.
    started: bool,
}

impl FrameStack {
    /// An empty stack for observations of `spec`.
    pub fn new(spec: &ObservationSpec) -> Self {
        let shape = (1, spec.stacked_channels(), spec.height, spec.width);
        Self {
            frame_len: spec.channels * spec.height * spec.width,
            stack: Array4::zeros(shape),
            goal: Array4::zeros(shape),
            started: false,
        }
    }

    /// Values in one camera frame: channels x height x width, row-major.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Forgets the frames: the next one fills every slot.
    pub fn reset(&mut self) {
        self.started = false;
    }

    /// Adds the newest camera frame (C x H x W, row-major) and returns the stacked observation.
    pub fn push(&mut self, frame: &[u8]) -> Result<ArrayView4<'_, u8>, PlanError> {
        self.check(frame)?;
        let len = self.frame_len;
        let values = self.stack.as_slice_mut().expect("a standard-layout array");
        if self.started {
            values.copy_within(len.., 0);
            let last = values.len() - len;
            values[last..].copy_from_slice(frame);
        } else {
            values
                .chunks_exact_mut(len)
                .for_each(|slot| slot.copy_from_slice(frame));
            self.started = true;
        }
        Ok(self.stack.view())
    }

    /// The goal observation of a goal frame: the frame in every slot.
    pub fn goal(&mut self, frame: &[u8]) -> Result<ArrayView4<'_, u8>, PlanError> {
        self.check(frame)?;
        let values = self.goal.as_slice_mut().expect("a standard-layout array");
        values
            .chunks_exact_mut(self.frame_len)
            .for_each(|slot| slot.copy_from_slice(frame));
        Ok(self.goal.view())
    }

    fn check(&self, frame: &[u8]) -> Result<(), PlanError> {
        if frame.len() != self.frame_len {
            return Err(PlanError::FrameLength {
                expected: self.frame_len,
                got: frame.len(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_stack_oldest_first_and_a_reset_or_a_goal_fills_every_slot() {
        let spec = ObservationSpec {
            frames: 2,
            channels: 1,
            height: 1,
            width: 2,
        };
        let mut stack = FrameStack::new(&spec);
        let values = |view: ArrayView4<'_, u8>| view.iter().copied().collect::<Vec<_>>();
        assert_eq!(values(stack.push(&[1, 2]).unwrap()), [1, 2, 1, 2]);
        assert_eq!(values(stack.push(&[3, 4]).unwrap()), [1, 2, 3, 4]);
        assert_eq!(values(stack.push(&[5, 6]).unwrap()), [3, 4, 5, 6]);
        stack.reset();
        assert_eq!(values(stack.push(&[7, 8]).unwrap()), [7, 8, 7, 8]);
        assert_eq!(values(stack.goal(&[9, 9]).unwrap()), [9, 9, 9, 9]);
        assert_eq!(values(stack.push(&[1, 1]).unwrap()), [7, 8, 1, 1]);
        assert!(matches!(
            stack.push(&[1, 2, 3]),
            Err(PlanError::FrameLength {
                expected: 2,
                got: 3
            })
        ));
    }
}
