package org.zero4j.offload.swap;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/** One submitted swap read or write, done when all of its block-sized requests are. */
public final class SwapOp {

  private final String what;
  private final CountDownLatch remaining;
  private final AtomicReference<Throwable> failure = new AtomicReference<>();

  SwapOp(String what, int requests) {
    this.what = what;
    this.remaining = new CountDownLatch(requests);
  }

  void requestDone(Throwable error) {
    if (error != null) {
      failure.compareAndSet(null, error);
    }
    remaining.countDown();
  }

  /** True once every request has finished, successfully or not. */
  public boolean isDone() {
    return remaining.getCount() == 0;
  }

  /**
   * Waits for the operation.
   *
   * @throws SwapFailure if any request failed; the message names the file, offset and cause
   */
  public void await() {
    try {
      remaining.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new SwapFailure("interrupted while waiting for " + what, e);
    }
    Throwable t = failure.get();
    if (t != null) {
      throw new SwapFailure(what + " failed: " + t.getMessage() + advice(t), t);
    }
  }

  private static String advice(Throwable t) {
    String m = String.valueOf(t.getMessage());
    if (m.contains("No space left")) {
      return "; the disk under nvme_path is full: free space there (the swap set must fit) and"
          + " resume from the last checkpoint";
    }
    return "";
  }
}
