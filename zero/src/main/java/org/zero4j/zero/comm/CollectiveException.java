package org.zero4j.zero.comm;

/**
 * A collective failed or timed out: a peer died, the network broke, or ranks diverged. The message
 * names the operation; training cannot continue on this group and the process should exit so the
 * launcher can stop the job.
 */
public final class CollectiveException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  CollectiveException(String message, Throwable cause) {
    super(
        message
            + ". A peer rank probably died or stopped calling collectives; check the other ranks'"
            + " logs. Restart the job from the last checkpoint.",
        cause);
  }
}
