package org.zero4j.zero;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.zero.comm.Collectives;
import org.zero4j.zero.comm.Pending;

/**
 * Stages 0 and 1: full gradients accumulate in one flat buffer, reduced at the accumulation
 * boundary.
 *
 * <p>Note [gradients as bucket views]: each parameter's {@code .grad} is a view into the flat
 * buffer, so autograd's AccumulateGrad adds every micro-step's gradient in place and no copy is
 * needed before communication (PyTorch DDP's {@code gradient_as_bucket_view}). If user code
 * replaces or frees a {@code .grad} (for example {@code zero_grad}), the view is re-attached before
 * the next backward.
 *
 * <p>Stage 0 all-reduces each bucket in place and returns the whole buffer; stage 1 reduce-scatters
 * each bucket into this rank's shard with {@link Collectives#reduceScatterByAllToAll} (or, without
 * {@code reduce_scatter}, all-reduces and keeps its chunk).
 */
final class GradBuffer implements GradientReducer {

  // stage 1's all-to-all reductions in flight at once, each with a bucket-sized receive buffer
  private static final int SCRATCH_BUFFERS = 2;

  private final List<NamedParameter> params;
  private final ShardLayout layout;
  private final Collectives comm;
  private final Precision working;
  private final Precision wire;
  private final boolean partitioned;
  private final boolean reduceScatter;
  private final Tensor flat;
  private final List<Tensor> views = new ArrayList<>();
  private Tensor shard;

  GradBuffer(
      List<NamedParameter> params,
      ShardLayout layout,
      Collectives comm,
      Precision working,
      Precision wire,
      boolean partitioned,
      boolean reduceScatter) {
    this.params = params;
    this.layout = layout;
    this.comm = comm;
    this.working = working;
    this.wire = wire;
    this.partitioned = partitioned;
    this.reduceScatter = reduceScatter;
    this.flat = working.zeros(layout.flatNumel());
    for (ShardLayout.Slot slot : layout.slots()) {
      views.add(FlatParams.slice(flat, slot, params.get(slot.param()).tensor()));
    }
    beforeBackward();
  }

  @Override
  public void beforeBackward() {
    for (ShardLayout.Slot slot : layout.slots()) {
      Tensor p = params.get(slot.param()).tensor();
      Tensor view = views.get(slot.param());
      Tensor g = p.grad();
      if (!g.defined() || g.data_ptr().address() != view.data_ptr().address()) {
        if (g.defined()) {
          view.add_(g); // keep what a user-made gradient already holds
        }
        p.mutable_grad().put(view);
      }
    }
  }

  @Override
  public void afterBackward() {}

  @Override
  public Tensor reduced() {
    int world = comm.worldSize();
    if (partitioned) {
      shard = working.empty(layout.shardNumel());
    }
    boolean allToAll = partitioned && reduceScatter;
    long maxPadded = 1;
    for (ShardLayout.Bucket b : layout.buckets()) {
      maxPadded = Math.max(maxPadded, b.paddedNumel());
    }
    Deque<Tensor> scratch = new ArrayDeque<>();
    Deque<Pending> pending = new ArrayDeque<>();
    Deque<Runnable> after = new ArrayDeque<>();
    // Every view and wire copy made here is closed once its collective is done: left to the
    // garbage collector, a wire copy of each bucket would stay resident long after the step.
    List<Tensor> temps = new ArrayList<>();
    for (ShardLayout.Bucket b : layout.buckets()) {
      Tensor bucket = flat.narrow(0, b.start(), b.paddedNumel());
      Tensor onWire = wire == working ? bucket : bucket.to(wire.scalarType());
      temps.add(bucket);
      if (onWire != bucket) {
        temps.add(onWire);
      }
      long chunk = b.chunk(world);
      if (!allToAll) {
        pending.add(comm.allReduce(onWire));
        after.add(
            () -> {
              if (onWire != bucket) {
                bucket.copy_(onWire);
              }
              if (partitioned) {
                try (Tensor dst = shard.narrow(0, b.shardOffset(), chunk);
                    Tensor src = bucket.narrow(0, comm.rank() * chunk, chunk)) {
                  dst.copy_(src);
                }
              }
            });
        continue;
      }
      if (pending.size() == SCRATCH_BUFFERS) {
        pending.removeFirst().await();
        after.removeFirst().run();
      }
      Tensor buf = scratch.size() < SCRATCH_BUFFERS ? wire.empty(maxPadded) : scratch.removeFirst();
      scratch.addLast(buf);
      Tensor out = shard.narrow(0, b.shardOffset(), chunk);
      Tensor outWire = wire == working ? out : onWire.narrow(0, 0, chunk);
      temps.add(out);
      if (outWire != out) {
        temps.add(outWire);
      }
      try (Tensor s = buf.narrow(0, 0, b.paddedNumel())) {
        pending.add(comm.reduceScatterByAllToAll(outWire, onWire, s));
      }
      after.add(
          () -> {
            if (outWire != out) {
              out.copy_(outWire);
            }
          });
    }
    while (!pending.isEmpty()) {
      pending.removeFirst().await();
      after.removeFirst().run();
    }
    scratch.forEach(Tensor::close);
    temps.forEach(Tensor::close);
    return partitioned ? shard : flat;
  }

  @Override
  public void zero() {
    flat.zero_();
    if (shard != null) {
      shard.close();
      shard = null;
    }
  }

  @Override
  public long bytes() {
    return flat.nbytes();
  }

  @Override
  public void close() {
    for (NamedParameter p : params) {
      p.tensor().mutable_grad().reset();
    }
    flat.close();
    if (shard != null) {
      shard.close();
    }
  }
}
