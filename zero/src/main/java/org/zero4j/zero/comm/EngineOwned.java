package org.zero4j.zero.comm;

import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;

/**
 * Native handles that the engine keeps beyond the call that made them.
 *
 * <p>A training loop runs each step inside a JavaCPP {@link PointerScope}, which frees every handle
 * made in it when it closes. Most of what the engine allocates during a step is closed before the
 * step returns, but some handles must outlive the caller's scope: a collective still in flight (a
 * prefetched gather after a forward without backward), the staged view of a swapped shard. {@link
 * #take} moves such a handle out of the scope it was attached to, so that only its owner's {@code
 * close()} frees it.
 */
public final class EngineOwned {

  private EngineOwned() {}

  /**
   * Takes {@code handle}, just made, out of the innermost {@link PointerScope} of this thread, if
   * it is attached to one; returns it. Its owner must close it.
   */
  public static <P extends Pointer> P take(P handle) {
    PointerScope scope = PointerScope.getInnerScope();
    // Note [leaving a scope]: a scope holds one reference to each handle attached to it, and
    // detach() drops that reference; taking one more first leaves the handle alive with a single
    // reference, its owner's. A handle the scope did not take (a scope for other classes) has no
    // reference to drop, and detaching it would free it.
    if (scope != null && handle != null && handle.referenceCount() > 0) {
      handle.retainReference();
      scope.detach(handle);
    }
    return handle;
  }
}
