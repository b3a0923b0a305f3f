package org.zero4j.zero.stage3;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorBase;
import org.zero4j.zero.Precision;

/**
 * Stage 3's gradients: each unit's full gradient is assembled in its {@link ReduceBucket}'s staging
 * buffer as autograd produces it, the bucket is reduce-scattered as soon as its units' last
 * parameter gradients have arrived, and this rank's chunk of it added to the persistent shard
 * gradient, which therefore accumulates over micro-steps. Only the shard gradient outlives a
 * backward.
 *
 * <p>Buckets hold consecutive units up to {@code reduce_bucket_size} elements (at least one unit),
 * so a backward issues one collective per bucket rather than per unit. With {@code overlap_comm}
 * reduce-scatters of up to {@code reduce_bucket_size} elements (at least one bucket) stay in flight
 * while backward continues.
 */
final class UnitGradients implements AutoCloseable {

  private record InFlight(
      ReduceBucket bucket, Tensor staging, Tensor out, boolean direct, UnitCollectives.Op op) {}

  private final List<UnitParams> units;
  private final long[] shardOffsets;
  private final UnitCollectives comm;
  private final Precision wire;
  private final boolean overlap;
  private final long inFlightNumel;
  private final int world;
  private final Tensor shardGrad;
  private final List<ReduceBucket> buckets;
  private final int[] bucketOf; // by unit index
  private final Tensor[] staging; // by bucket
  private final int[] unitsDone; // by bucket
  private final boolean[] launched; // by bucket
  private final boolean[] stale; // by bucket: no reduce since zero()
  private final int[] arrived; // by unit
  private final boolean[][] gotGrad; // by unit, parameter
  private final boolean wireIsWorking;
  private final Deque<InFlight> inFlight = new ArrayDeque<>();
  private long inFlightSoFar;

  UnitGradients(
      List<UnitParams> units,
      long[] shardOffsets,
      long shardNumel,
      UnitCollectives comm,
      Precision working,
      Precision wire,
      boolean overlap,
      long bucketNumel) {
    this.units = units;
    this.shardOffsets = shardOffsets;
    this.comm = comm;
    this.wire = wire;
    this.overlap = overlap;
    this.inFlightNumel = bucketNumel;
    this.world = comm.comm().worldSize();
    this.shardGrad = working.zeros(shardNumel);
    this.buckets = ReduceBucket.plan(units, bucketNumel, DivergenceHeader.MAX_UNITS);
    this.bucketOf = new int[units.size()];
    for (int b = 0; b < buckets.size(); b++) {
      for (UnitParams u : buckets.get(b).units) {
        bucketOf[u.index()] = b;
      }
    }
    this.staging = new Tensor[buckets.size()];
    this.unitsDone = new int[buckets.size()];
    this.launched = new boolean[buckets.size()];
    this.stale = new boolean[buckets.size()];
    this.arrived = new int[units.size()];
    this.wireIsWorking = wire.scalarType().value == working.scalarType().value;
    this.gotGrad = new boolean[units.size()][];
    for (UnitParams u : units) {
      gotGrad[u.index()] = new boolean[u.params().size()];
    }
  }

  /**
   * Copies parameter {@code param}'s gradient into its unit's place in the bucket's staging buffer.
   * Returns true when that completed the unit (its parameters' gradients are no longer needed); the
   * bucket's reduce-scatter starts once all its units are complete.
   */
  boolean accept(UnitParams u, int param, TensorBase grad) {
    int idx = u.index();
    int b = bucketOf[idx];
    ReduceBucket bucket = buckets.get(b);
    if (launched[b]) {
      throw new IllegalStateException(
          "a second gradient for "
              + u.params().get(param).name()
              + " arrived after unit '"
              + u.name()
              + "' was reduced in this backward; a unit may run only once per forward");
    }
    if (staging[b] == null) {
      staging[b] = wire.empty(bucket.stagingNumel(world)); // see Note [staging without a fill]
    }
    boolean add = gotGrad[idx][param];
    Tensor dst = staging[b];
    try (Tensor g = new Tensor(grad);
        Tensor flat = g.flatten()) {
      bucket.forEachPiece(
          u,
          u.offset(param),
          u.paramNumel(param),
          (at, from, len) -> {
            try (Tensor d = dst.narrow(0, at, len);
                Tensor src = flat.narrow(0, from - u.offset(param), len)) {
              if (add) {
                d.add_(src);
              } else {
                d.copy_(src);
              }
            }
          });
    }
    if (!gotGrad[idx][param]) {
      gotGrad[idx][param] = true;
      arrived[idx]++;
      if (arrived[idx] == u.params().size()) {
        if (++unitsDone[b] == bucket.units.size()) {
          launch(b);
        }
        return true;
      }
    }
    return false;
  }

  private void launch(int b) {
    ReduceBucket bucket = buckets.get(b);
    launched[b] = true;
    Tensor in = staging[b] != null ? staging[b] : wire.empty(bucket.stagingNumel(world));
    staging[b] = null;
    for (UnitParams u : bucket.units) {
      zeroGaps(bucket, u, in, gotGrad[u.index()]);
    }
    // Note [reduce into the shard gradient]: the first reduce of a bucket after zero() lands in
    // the shard gradient itself when no conversion is needed, instead of a scratch chunk added to
    // it. The bucket's units are consecutive, so their chunks are one range of the shard.
    boolean direct = wireIsWorking && stale[b];
    long at = shardOffsets[bucket.first];
    Tensor out = direct ? shardGrad.narrow(0, at, bucket.section) : wire.empty(bucket.section);
    UnitCollectives.Op p = comm.reduceScatter(bucket.units, out, in);
    inFlight.addLast(new InFlight(bucket, in, out, direct, p));
    inFlightSoFar += bucket.stagingNumel(world);
    while (!inFlight.isEmpty()
        && (!overlap || (inFlight.size() > 1 && inFlightSoFar > inFlightNumel))) {
      complete(inFlight.removeFirst());
    }
  }

  private void complete(InFlight f) {
    comm.await(f.op());
    ReduceBucket bucket = f.bucket();
    int b = bucketOf[bucket.first];
    inFlightSoFar -= bucket.stagingNumel(world);
    if (f.direct()) {
      stale[b] = false;
    } else {
      try (Tensor dst = shardGrad.narrow(0, shardOffsets[bucket.first], bucket.section)) {
        if (stale[b]) {
          dst.copy_(f.out());
          stale[b] = false;
        } else {
          dst.add_(f.out());
        }
      }
    }
    f.staging().close();
    f.out().close();
  }

  // Note [staging without a fill]: a staging buffer starts uninitialised; every parameter's range
  // is written by its first gradient (copy, then add), so only the ranges no gradient reached and
  // the padding are zeroed, just before the reduce.
  private static void zeroGaps(ReduceBucket bucket, UnitParams u, Tensor in, boolean[] got) {
    for (int i = 0; i < u.params().size(); i++) {
      if (!got[i] && u.paramNumel(i) > 0) {
        zeroRange(bucket, u, in, u.offset(i), u.paramNumel(i));
      }
    }
    if (u.paddedNumel() > u.numel()) {
      zeroRange(bucket, u, in, u.numel(), u.paddedNumel() - u.numel());
    }
  }

  private static void zeroRange(ReduceBucket bucket, UnitParams u, Tensor in, long lo, long n) {
    bucket.forEachPiece(
        u,
        lo,
        n,
        (at, from, len) -> {
          try (Tensor gap = in.narrow(0, at, len)) {
            gap.zero_();
          }
        });
  }

  /**
   * At the end of a backward: reduces units that did not complete (parameters without gradient
   * count as zero, or fail without {@code ignoreUnused}), in unit order so every rank issues the
   * same collectives, and waits for every reduce-scatter.
   */
  void finishBackward(boolean ignoreUnused) {
    if (!ignoreUnused) {
      List<String> unused = new ArrayList<>();
      for (UnitParams u : units) {
        for (int i = 0; i < u.params().size(); i++) {
          if (!gotGrad[u.index()][i] && u.paramNumel(i) > 0) {
            unused.add(u.params().get(i).name());
          }
        }
      }
      if (!unused.isEmpty()) {
        comm.forgetOrder(); // the peers may not fail here: Note [agreed order]
        discardInFlight();
        reset();
        throw new IllegalStateException(
            "parameters "
                + unused
                + " received no gradient in this backward; set"
                + " zero_optimization.ignore_unused_parameters to true to treat them as zero, or"
                + " freeze them (requires_grad=false) before initialize");
      }
    }
    for (int b = 0; b < buckets.size(); b++) {
      if (!launched[b]) {
        launch(b);
      }
    }
    while (!inFlight.isEmpty()) {
      complete(inFlight.removeFirst());
    }
    reset();
  }

  // A backward that fails leaves no partial sum behind: its reduces still in flight are waited for
  // and dropped. A bucket reduced straight into the shard gradient stays marked stale, so that
  // range counts as zero until the next reduce overwrites it.
  private void discardInFlight() {
    while (!inFlight.isEmpty()) {
      InFlight f = inFlight.removeFirst();
      inFlightSoFar -= f.bucket().stagingNumel(world);
      try {
        comm.await(f.op());
      } catch (RuntimeException e) {
        // the backward is failing already; the collective keeps its own references to the buffers
      }
      f.staging().close();
      f.out().close();
    }
  }

  private void reset() {
    Arrays.fill(arrived, 0);
    Arrays.fill(unitsDone, 0);
    Arrays.fill(launched, false);
    for (boolean[] g : gotGrad) {
      Arrays.fill(g, false);
    }
    for (int i = 0; i < staging.length; i++) {
      if (staging[i] != null) {
        staging[i].close();
        staging[i] = null;
      }
    }
  }

  /** The gradient of this rank's shard, summed over ranks and micro-steps (working precision). */
  Tensor shardGrad() {
    for (int b = 0; b < buckets.size(); b++) {
      if (stale[b]) { // no reduce since zero(): the gradient is zero
        ReduceBucket bucket = buckets.get(b);
        try (Tensor dst = shardGrad.narrow(0, shardOffsets[bucket.first], bucket.section)) {
          dst.zero_();
        }
        stale[b] = false;
      }
    }
    return shardGrad;
  }

  /**
   * Zeroes the shard gradient for the next step: lazily, by unit, since the next reduce of each
   * unit overwrites its chunk instead of adding to it.
   */
  void zero() {
    Arrays.fill(stale, true);
  }

  long bytes() {
    return shardGrad.nbytes();
  }

  @Override
  public void close() {
    // Only after a failure is anything still in flight; the collective keeps its own references
    // to the buffers, so dropping ours cannot free memory under it.
    for (InFlight f : inFlight) {
      f.staging().close();
      f.out().close();
    }
    inFlight.clear();
    reset();
    shardGrad.close();
  }
}
