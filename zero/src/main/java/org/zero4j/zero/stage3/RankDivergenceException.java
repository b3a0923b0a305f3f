package org.zero4j.zero.stage3;

/**
 * Ranks ran different sharding units at the same point of a step (one rank called a unit the others
 * skipped). The message names the units, the ranks and the step; the process group cannot be used
 * afterwards.
 */
public final class RankDivergenceException extends IllegalStateException {
  private static final long serialVersionUID = 1L;

  RankDivergenceException(String message) {
    super(message);
  }
}
