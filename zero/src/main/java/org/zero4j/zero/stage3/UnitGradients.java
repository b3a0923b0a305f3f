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
 * Stage 3's gradients: each unit's full gradient is assembled in a staging buffer as autograd
 * produces it, reduce-scattered as soon as the unit's last parameter gradient has arrived, and this
 * rank's chunk added to the persistent shard gradient, which therefore accumulates over
 * micro-steps. Only the shard gradient outlives a backward.
 *
 * <p>The unit is the bucket: one reduce-scatter per unit per micro-step. With {@code overlap_comm}
 * reduce-scatters of up to {@code reduce_bucket_size} elements (at least one unit) stay in flight
 * while backward continues.
 */
final class UnitGradients implements AutoCloseable {

  private record InFlight(
      UnitParams unit, Tensor staging, Tensor out, boolean direct, UnitCollectives.Op op) {}

  private final List<UnitParams> units;
  private final long[] shardOffsets;
  private final UnitCollectives comm;
  private final Precision wire;
  private final boolean overlap;
  private final long inFlightNumel;
  private final Tensor shardGrad;
  private final Tensor[] staging;
  private final int[] arrived;
  private final boolean[][] gotGrad;
  private final boolean[] launched;
  private final boolean wireIsWorking;
  private final boolean[] stale;
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
      long inFlightNumel) {
    this.units = units;
    this.shardOffsets = shardOffsets;
    this.comm = comm;
    this.wire = wire;
    this.overlap = overlap;
    this.inFlightNumel = inFlightNumel;
    this.shardGrad = working.zeros(shardNumel);
    this.staging = new Tensor[units.size()];
    this.arrived = new int[units.size()];
    this.launched = new boolean[units.size()];
    this.wireIsWorking = wire.scalarType().value == working.scalarType().value;
    this.stale = new boolean[units.size()];
    this.gotGrad = new boolean[units.size()][];
    for (UnitParams u : units) {
      gotGrad[u.index()] = new boolean[u.params().size()];
    }
  }

  /**
   * Copies parameter {@code param}'s gradient into its unit's staging buffer. Returns true when
   * that completed the unit and its reduce-scatter was started.
   */
  boolean accept(UnitParams u, int param, TensorBase grad) {
    int idx = u.index();
    if (launched[idx]) {
      throw new IllegalStateException(
          "a second gradient for "
              + u.params().get(param).name()
              + " arrived after unit '"
              + u.name()
              + "' was reduced in this backward; a unit may run only once per forward");
    }
    if (staging[idx] == null) {
      staging[idx] = wire.empty(u.paddedNumel()); // see Note [staging without a fill]
    }
    try (Tensor g = new Tensor(grad);
        Tensor flat = g.flatten();
        Tensor dst = staging[idx].narrow(0, u.offset(param), u.paramNumel(param))) {
      if (gotGrad[idx][param]) {
        dst.add_(flat);
      } else {
        dst.copy_(flat);
      }
    }
    if (!gotGrad[idx][param]) {
      gotGrad[idx][param] = true;
      arrived[idx]++;
    }
    if (arrived[idx] == u.params().size()) {
      launch(u);
      return true;
    }
    return false;
  }

  private void launch(UnitParams u) {
    int idx = u.index();
    launched[idx] = true;
    Tensor in = staging[idx] != null ? staging[idx] : wire.empty(u.paddedNumel());
    staging[idx] = null;
    zeroGaps(u, in, gotGrad[idx]);
    // Note [reduce into the shard gradient]: the first reduce of a unit after zero() lands in the
    // shard gradient itself when no conversion is needed, instead of a scratch chunk added to it.
    boolean direct = wireIsWorking && stale[idx];
    Tensor out = direct ? shardGrad.narrow(0, shardOffsets[idx], u.chunk()) : wire.empty(u.chunk());
    UnitCollectives.Op p = comm.reduceScatter(u, out, in);
    inFlight.addLast(new InFlight(u, in, out, direct, p));
    inFlightSoFar += u.paddedNumel();
    while (!inFlight.isEmpty()
        && (!overlap || (inFlight.size() > 1 && inFlightSoFar > inFlightNumel))) {
      complete(inFlight.removeFirst());
    }
  }

  private void complete(InFlight f) {
    comm.await(f.op());
    inFlightSoFar -= f.unit().paddedNumel();
    int idx = f.unit().index();
    if (f.direct()) {
      stale[idx] = false;
    } else {
      try (Tensor dst = shardGrad.narrow(0, shardOffsets[idx], f.unit().chunk())) {
        if (stale[idx]) {
          dst.copy_(f.out());
          stale[idx] = false;
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
  private static void zeroGaps(UnitParams u, Tensor in, boolean[] got) {
    for (int i = 0; i < u.params().size(); i++) {
      if (!got[i] && u.paramNumel(i) > 0) {
        try (Tensor gap = in.narrow(0, u.offset(i), u.paramNumel(i))) {
          gap.zero_();
        }
      }
    }
    if (u.paddedNumel() > u.numel()) {
      try (Tensor pad = in.narrow(0, u.numel(), u.paddedNumel() - u.numel())) {
        pad.zero_();
      }
    }
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
        reset();
        throw new IllegalStateException(
            "parameters "
                + unused
                + " received no gradient in this backward; set"
                + " zero_optimization.ignore_unused_parameters to true to treat them as zero, or"
                + " freeze them (requires_grad=false) before initialize");
      }
    }
    for (UnitParams u : units) {
      if (!launched[u.index()]) {
        launch(u);
      }
    }
    while (!inFlight.isEmpty()) {
      complete(inFlight.removeFirst());
    }
    reset();
  }

  private void reset() {
    Arrays.fill(arrived, 0);
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
    for (UnitParams u : units) {
      if (stale[u.index()]) { // no reduce since zero(): the gradient is zero
        try (Tensor dst = shardGrad.narrow(0, shardOffsets[u.index()], u.chunk())) {
          dst.zero_();
        }
        stale[u.index()] = false;
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
