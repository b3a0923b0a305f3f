package org.zero4j.zero;

/** The three fp32 tensors of Adam's optimizer state, all laid out like the master shard. */
public enum AdamState {
  /** The fp32 master weights. */
  MASTER,
  /** The first moment ({@code exp_avg}). */
  EXP_AVG,
  /** The second moment ({@code exp_avg_sq}). */
  EXP_AVG_SQ
}
