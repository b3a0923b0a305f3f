package org.zero4j.zero;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorBase;
import org.bytedeco.pytorch.VoidTensorHook;
import org.zero4j.zero.comm.Collectives;
import org.zero4j.zero.comm.Pending;

/**
 * Stage 2: gradients are reduce-scattered into this rank's shard while backward is still running,
 * and full gradients never accumulate.
 *
 * <p>A hook on every parameter copies its gradient into its bucket's staging buffer (from a {@link
 * StagingPool}) the moment autograd produces it. When a bucket's last parameter has arrived, the
 * bucket is reduce-scattered and this rank's chunk is added to the persistent shard gradient, which
 * therefore accumulates over micro-steps. With {@code overlap_comm} up to two buckets are in flight
 * while backward continues; without it each bucket is reduced before backward resumes.
 *
 * <p>With {@code reduce_scatter} the reduction is {@link Collectives#reduceScatterByAllToAll},
 * which moves a reduce-scatter's bytes on Gloo; without it the bucket is all-reduced in place and
 * this rank keeps its chunk (DeepSpeed's {@code reduce_scatter: false}).
 *
 * <p>Note [freeing .grad]: a hook runs just before autograd stores the gradient into {@code .grad},
 * so the copy there is redundant. Each hook frees the {@code .grad} of the parameter hooked before
 * it (whose store has happened by then), and {@link #afterBackward()} frees the last; at most one
 * full parameter gradient is alive at a time.
 *
 * <p>All ranks must run the same graph, so that buckets complete in the same order everywhere;
 * buckets with parameters that got no gradient are reduced at the end of backward, in bucket order,
 * their missing slots zeroed.
 */
final class GradStream implements GradientReducer {

  private static final int MAX_IN_FLIGHT = 2;

  /**
   * A bucket's reduction into {@code sum}, which is added to the shard gradient or copied into it;
   * with {@code direct} it is the shard gradient's own chunk and nothing is left to do.
   */
  private record InFlight(
      ShardLayout.Bucket bucket,
      Tensor staging,
      Tensor in,
      Tensor scratch,
      Tensor sum,
      boolean direct,
      boolean accumulate,
      Pending pending) {}

  private final List<NamedParameter> params;
  private final ShardLayout layout;
  private final Collectives comm;
  private final boolean reduceScatter;
  private final boolean overlapComm;
  private final boolean ignoreUnused;
  private final boolean[] gotGrad;
  private final Tensor shardGrad;
  private final boolean direct;
  private final StagingPool pool;
  private final List<VoidTensorHook> hooks = new ArrayList<>();
  private final int[] hookHandles;
  private final Tensor[] filling;
  private final int[] arrived;
  private final boolean[] launched;
  private final Deque<InFlight> inFlight = new ArrayDeque<>();
  private int lastHooked = -1;
  private boolean armed;
  private boolean accumulating;
  private RuntimeException failure;

  GradStream(
      List<NamedParameter> params,
      ShardLayout layout,
      Collectives comm,
      Precision working,
      Precision wire,
      boolean reduceScatter,
      boolean overlapComm,
      boolean ignoreUnused) {
    this.params = params;
    this.layout = layout;
    this.comm = comm;
    this.reduceScatter = reduceScatter;
    this.overlapComm = overlapComm;
    this.ignoreUnused = ignoreUnused;
    this.gotGrad = new boolean[params.size()];
    this.shardGrad = working.zeros(layout.shardNumel());
    this.direct = working == wire;
    this.pool = new StagingPool(layout, wire);
    int buckets = layout.buckets().size();
    this.filling = new Tensor[buckets];
    this.arrived = new int[buckets];
    this.launched = new boolean[buckets];
    this.hookHandles = new int[params.size()];
    for (ShardLayout.Slot slot : layout.slots()) {
      VoidTensorHook hook =
          new VoidTensorHook() {
            @Override
            public void call(TensorBase grad) {
              try {
                onGrad(slot, grad);
              } finally {
                grad.close(); // Note [close the hook's gradient] in stage3.UnitLifecycle
              }
            }
          };
      hooks.add(hook);
      hookHandles[slot.param()] = params.get(slot.param()).tensor().register_hook(hook);
    }
  }

  // Note [no exceptions through autograd]: a Java exception thrown inside a native callback cannot
  // unwind libtorch's engine safely, so hook failures are stored and rethrown after backward.
  private void onGrad(ShardLayout.Slot slot, TensorBase grad) {
    if (failure != null) {
      return;
    }
    try {
      if (!armed) {
        throw new IllegalStateException(
            "a gradient for "
                + params.get(slot.param()).name()
                + " arrived outside engine.backward(loss); call engine.backward(loss) instead of"
                + " loss.backward() so that ZeRO stage 2 can reduce it");
      }
      releaseLastGrad();
      ShardLayout.Bucket b = layout.buckets().get(slot.bucket());
      Tensor buf = fillingFor(b);
      // flatten() is a free view of a contiguous gradient; shaping the slice instead costs ~30 us
      try (Tensor g = new Tensor(grad);
          Tensor flat = g.flatten();
          Tensor dst = buf.narrow(0, slot.offset() - b.start(), slot.numel())) {
        dst.copy_(flat);
      }
      lastHooked = slot.param();
      gotGrad[slot.param()] = true;
      arrived[b.index()]++;
      if (arrived[b.index()] == b.params().size()) {
        launch(b);
      }
    } catch (RuntimeException e) {
      failure = e;
    }
  }

  private Tensor fillingFor(ShardLayout.Bucket b) {
    if (filling[b.index()] == null) {
      Tensor buf = pool.take(b);
      if (b.paddedNumel() > b.numel()) {
        try (Tensor pad = buf.narrow(0, b.numel(), b.paddedNumel() - b.numel())) {
          pad.zero_();
        }
      }
      filling[b.index()] = buf;
    }
    return filling[b.index()];
  }

  private void releaseLastGrad() {
    if (lastHooked >= 0) {
      params.get(lastHooked).tensor().mutable_grad().reset();
      lastHooked = -1;
    }
  }

  private void launch(ShardLayout.Bucket b) {
    launched[b.index()] = true;
    Tensor staging = fillingFor(b);
    filling[b.index()] = null;
    if (arrived[b.index()] < b.params().size()) {
      zeroMissing(b, staging);
    }
    long chunk = b.chunk(comm.worldSize());
    Tensor in = staging.narrow(0, 0, b.paddedNumel());
    Tensor scratch = null;
    Tensor sum;
    Pending pending;
    boolean intoShard = reduceScatter && direct && !accumulating;
    if (reduceScatter) {
      // a single rank exchanges nothing and needs no receive buffer
      scratch = comm.worldSize() > 1 ? pool.take(b) : null;
      sum =
          intoShard
              ? shardGrad.narrow(0, b.shardOffset(), chunk)
              : in.narrow(0, 0, chunk); // written once the exchange is over
      try (Tensor received = scratch != null ? scratch.narrow(0, 0, b.paddedNumel()) : null) {
        pending = comm.reduceScatterByAllToAll(sum, in, received != null ? received : in);
      }
    } else {
      sum = in.narrow(0, comm.rank() * chunk, chunk);
      pending = comm.allReduce(in);
    }
    inFlight.addLast(new InFlight(b, staging, in, scratch, sum, intoShard, accumulating, pending));
    while (inFlight.size() > (overlapComm ? MAX_IN_FLIGHT : 0)) {
      complete(inFlight.removeFirst());
    }
  }

  private void zeroMissing(ShardLayout.Bucket b, Tensor staging) {
    for (int p : b.params()) {
      if (!gotGrad[p]) {
        ShardLayout.Slot slot = layout.slots().get(p);
        try (Tensor dst = staging.narrow(0, slot.offset() - b.start(), slot.numel())) {
          dst.zero_();
        }
      }
    }
  }

  private void complete(InFlight f) {
    f.pending().await();
    if (!f.direct()) {
      long chunk = f.bucket().chunk(comm.worldSize());
      try (Tensor dst = shardGrad.narrow(0, f.bucket().shardOffset(), chunk)) {
        if (f.accumulate()) {
          dst.add_(f.sum());
        } else {
          dst.copy_(f.sum());
        }
      }
    }
    f.sum().close();
    f.in().close();
    pool.give(f.staging());
    if (f.scratch() != null) {
      pool.give(f.scratch());
    }
  }

  @Override
  public void beforeBackward() {
    armed = true;
  }

  @Override
  public void afterBackward() {
    armed = false;
    releaseLastGrad();
    if (failure != null) {
      RuntimeException e = failure;
      failure = null;
      throw e;
    }
    if (!ignoreUnused) {
      refuseUnusedParameters();
    }
    for (ShardLayout.Bucket b : layout.buckets()) {
      if (!launched[b.index()]) {
        launch(b);
      }
    }
    while (!inFlight.isEmpty()) {
      complete(inFlight.removeFirst());
    }
    pool.release();
    for (NamedParameter p : params) {
      p.tensor().mutable_grad().reset();
    }
    Arrays.fill(arrived, 0);
    Arrays.fill(gotGrad, false);
    Arrays.fill(launched, false);
    accumulating = true;
  }

  private void refuseUnusedParameters() {
    List<String> unused = new ArrayList<>();
    for (int i = 0; i < params.size(); i++) {
      if (!gotGrad[i] && params.get(i).tensor().numel() > 0) {
        unused.add(params.get(i).name());
      }
    }
    if (!unused.isEmpty()) {
      Arrays.fill(gotGrad, false);
      throw new IllegalStateException(
          "parameters "
              + unused
              + " received no gradient in this backward; set"
              + " zero_optimization.ignore_unused_parameters to true to treat them as zero, or"
              + " freeze them (requires_grad=false) before initialize");
    }
  }

  @Override
  public Tensor reduced() {
    if (failure != null) {
      throw failure;
    }
    if (!accumulating) {
      shardGrad.zero_(); // no backward since the last step
    }
    return shardGrad;
  }

  // Note [first micro-step overwrites]: every bucket is reduced exactly once per backward, so the
  // first backward after a step writes each chunk of the shard gradient instead of adding it to
  // zeros (the all-to-all sums straight into it when wire and working precision agree), and
  // zero() only marks the gradient stale. That saves two passes over the shard per step; the
  // values are those of 0 + x.
  @Override
  public void zero() {
    accumulating = false;
  }

  @Override
  public long bytes() {
    return shardGrad.nbytes();
  }

  @Override
  public void close() {
    for (ShardLayout.Slot slot : layout.slots()) {
      params.get(slot.param()).tensor().remove_hook(hookHandles[slot.param()]);
    }
    hooks.clear();
    shardGrad.close();
    pool.close();
  }
}
