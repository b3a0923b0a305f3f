package org.zero4j.zero;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.zero.comm.Collectives;
import org.zero4j.zero.comm.Pending;

/**
 * The model's working parameters (fp32, fp16 or bf16) as views into one flat buffer laid out by a
 * {@link ShardLayout}. After construction every parameter's data <em>is</em> a slice of {@link
 * #flat()}, so writing the buffer updates the model, and an all-gather can land directly in it.
 */
public final class FlatParams implements AutoCloseable {

  private final ShardLayout layout;
  private final Precision precision;
  private final Tensor flat;

  /**
   * Moves the data of {@code params} (all of dtype {@code precision}, in registration order) into a
   * new flat buffer and re-points each parameter at its slice.
   */
  public FlatParams(List<NamedParameter> params, ShardLayout layout, Precision precision) {
    this.layout = layout;
    this.precision = precision;
    this.flat = precision.zeros(layout.flatNumel());
    for (ShardLayout.Slot slot : layout.slots()) {
      NamedParameter p = params.get(slot.param());
      Tensor t = p.tensor();
      if (t.scalar_type().value != precision.scalarType().value) {
        throw new IllegalArgumentException(
            "parameter "
                + p.name()
                + " has dtype "
                + t.scalar_type()
                + " but the engine runs in "
                + precision
                + "; convert the model before initialize, or let the engine do it");
      }
      // Handles closed at once: the detached one holds the parameter's old storage, which would
      // otherwise stay resident next to the flat buffer until a garbage collection.
      try (Tensor view = slice(flat, slot, t);
          Tensor old = t.detach()) {
        view.copy_(old);
        t.set_data(view);
      }
    }
  }

  static Tensor slice(Tensor flat, ShardLayout.Slot slot, Tensor like) {
    return flat.narrow(0, slot.offset(), slot.numel()).view(like.sizes().vec().get());
  }

  /** The flat buffer, padding included. */
  public Tensor flat() {
    return flat;
  }

  /** The working precision. */
  public Precision precision() {
    return precision;
  }

  /** Bytes held. */
  public long bytes() {
    return flat.nbytes();
  }

  /**
   * Rebuilds the full flat buffer from every rank's updated fp32 shard: each bucket's chunk is
   * converted to the working precision and all-gathered into place (or, without {@code
   * allgatherPartitions}, broadcast by its owner as in DeepSpeed). At most {@code inFlightNumel}
   * elements of send buffers are in flight at once.
   */
  public void gatherFromShards(
      Tensor shard32, Collectives comm, long inFlightNumel, boolean allgatherPartitions) {
    int world = comm.worldSize();
    Deque<Pending> inFlight = new ArrayDeque<>();
    Deque<Tensor> buffers = new ArrayDeque<>();
    long inFlightSoFar = 0;
    for (ShardLayout.Bucket b : layout.buckets()) {
      long chunk = b.chunk(world);
      while (!inFlight.isEmpty() && inFlightSoFar + chunk > inFlightNumel) {
        inFlight.removeFirst().await();
        Tensor done = buffers.removeFirst();
        inFlightSoFar -= done.numel();
        done.close();
      }
      Tensor mine = shard32.narrow(0, b.shardOffset(), chunk);
      Tensor out = flat.narrow(0, b.start(), b.paddedNumel());
      if (allgatherPartitions) {
        Tensor send = mine.to(precision.scalarType(), false, true, new MemoryFormatOptional());
        inFlight.addLast(comm.allGather(out, send));
        buffers.addLast(send);
        inFlightSoFar += chunk;
      } else {
        out.narrow(0, comm.rank() * chunk, chunk).copy_(mine);
        for (int r = 0; r < world; r++) {
          Tensor part = out.narrow(0, r * chunk, chunk);
          comm.broadcast(part, r).await();
        }
      }
    }
    while (!inFlight.isEmpty()) {
      inFlight.removeFirst().await();
      buffers.removeFirst().close();
    }
  }

  /**
   * As {@link #gatherFromShards}, when this rank's chunks of the flat buffer already hold its
   * updated values in working precision (written there sub-group by sub-group by the NVMe-offloaded
   * optimizer, whose fp32 shard is never whole in memory). Each chunk is sent from a copy, so the
   * all-gather never reads the region it writes.
   */
  public void gatherOwnChunks(Collectives comm, long inFlightNumel, boolean allgatherPartitions) {
    int world = comm.worldSize();
    int rank = comm.rank();
    Deque<Pending> inFlight = new ArrayDeque<>();
    Deque<Tensor> buffers = new ArrayDeque<>();
    long inFlightSoFar = 0;
    for (ShardLayout.Bucket b : layout.buckets()) {
      long chunk = b.chunk(world);
      while (!inFlight.isEmpty() && inFlightSoFar + chunk > inFlightNumel) {
        inFlight.removeFirst().await();
        Tensor done = buffers.removeFirst();
        inFlightSoFar -= done.numel();
        done.close();
      }
      Tensor out = flat.narrow(0, b.start(), b.paddedNumel());
      if (allgatherPartitions) {
        Tensor send = out.narrow(0, rank * chunk, chunk).clone();
        inFlight.addLast(comm.allGather(out, send));
        buffers.addLast(send);
        inFlightSoFar += chunk;
      } else {
        for (int r = 0; r < world; r++) {
          comm.broadcast(out.narrow(0, r * chunk, chunk), r).await();
        }
      }
    }
    while (!inFlight.isEmpty()) {
      inFlight.removeFirst().await();
      buffers.removeFirst().close();
    }
  }

  @Override
  public void close() {
    flat.close();
  }
}
