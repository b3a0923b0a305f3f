package org.zero4j.offload.swap;

/**
 * A swap read or write failed (a full disk, an I/O error, a file cut short). Training cannot go on
 * with optimizer state that did not reach the disk, so this stops the step; the message names the
 * file, the offset and the cause.
 */
public final class SwapFailure extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** A failure with its message and cause. */
  public SwapFailure(String message, Throwable cause) {
    super(message, cause);
  }
}
