package org.zero4j.zero.comm;

import java.time.Duration;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.Work;

/**
 * A collective in flight. {@link #await()} blocks until it completes, or fails with {@link
 * CollectiveException} after the group's timeout, so no rank waits forever on a dead peer.
 */
public final class Pending {

  private final Work work;
  private final String what;
  private final Duration timeout;
  private Runnable onDone;
  private boolean done;

  Pending(Work work, String what, Duration timeout) {
    this.work = work;
    this.what = what;
    this.timeout = timeout;
  }

  /** Runs {@code action} after the collective completes, when it is awaited. */
  Pending then(Runnable action) {
    if (done) {
      action.run();
    } else {
      onDone = action;
    }
    return this;
  }

  /** A collective that finished synchronously (world size 1). */
  static Pending completed(String what) {
    Pending p = new Pending(null, what, Duration.ZERO);
    p.done = true;
    return p;
  }

  /** Waits for completion; idempotent. */
  public void await() {
    if (done) {
      return;
    }
    try {
      boolean ok = work._wait(new Milliseconds(timeout.toMillis()));
      if (!ok) {
        throw new CollectiveException(what + " did not complete within " + timeout, null);
      }
      if (onDone != null) {
        onDone.run();
      }
    } catch (RuntimeException e) {
      if (e instanceof CollectiveException) {
        throw e;
      }
      throw new CollectiveException(what + " failed: " + e.getMessage(), e);
    } finally {
      done = true;
      work.close();
    }
  }

  /** What this collective is, for error messages. */
  public String description() {
    return what;
  }
}
