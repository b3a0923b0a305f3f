package org.zero4j.engine.checkpoint;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * libtorch's default CPU generator state (a uint8 tensor), saved per rank so that code drawing
 * random numbers after a resume (dropout, sampling) continues the same stream.
 *
 * <p>Note [one generator per process]: ranks run as threads of one JVM share the generator, so
 * capture and restore are serialised on {@link #lock()}, which such tests also hold while they seed
 * and draw; with one process per rank each has its own generator.
 */
final class RngState {

  private static final Object LOCK = new Object();

  private RngState() {}

  /** The lock guarding the default generator in this JVM during checkpoint capture and restore. */
  static Object lock() {
    return LOCK;
  }

  /** A copy of the current state. */
  static Tensor capture() {
    synchronized (LOCK) {
      return torch.getDefaultCPUGenerator().get_state();
    }
  }

  /** Restores a state captured by {@link #capture()}. */
  static void restore(Tensor state) {
    synchronized (LOCK) {
      torch.getDefaultCPUGenerator().set_state(state);
    }
  }
}
