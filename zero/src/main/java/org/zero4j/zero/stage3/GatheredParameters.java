package org.zero4j.zero.stage3;

import java.util.List;
import org.bytedeco.pytorch.Tensor;

/**
 * A scope in which chosen parameters are whole on every rank (DeepSpeed's {@code
 * GatheredParameters}): opening gathers the units that hold them, closing re-partitions and
 * releases them.
 *
 * <pre>{@code
 * try (GatheredParameters g = zero.gathered(List.of(layer.weight()), 0);
 *     NoGradGuard ng = new NoGradGuard()) {
 *   if (rank == 0) {
 *     layer.weight().mul_(new Scalar(0.5)); // edit in place
 *   }
 * } // rank 0's values are broadcast, every rank keeps its new chunk
 * }</pre>
 *
 * <p>With a modifier rank, that rank's values are broadcast on close and become every rank's shard;
 * elements it changed also replace the fp32 master weights (unchanged ones keep their fp32
 * precision), so the next step continues from the edit. Without one (a negative rank), edits are
 * discarded, as in DeepSpeed. A collective: every rank opens and closes the same scope, between
 * steps (not inside forward or backward).
 */
public final class GatheredParameters implements AutoCloseable {

  private final Stage3Optimizer owner;
  private final List<UnitParams> units;
  private final int modifierRank;
  private boolean closed;

  GatheredParameters(Stage3Optimizer owner, List<UnitParams> units, int modifierRank) {
    this.owner = owner;
    this.units = units;
    this.modifierRank = modifierRank;
    for (UnitParams u : units) {
      owner.lifecycle().gatherNow(u);
    }
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (UnitParams u : units) {
      if (modifierRank >= 0) {
        owner.unitComm().comm().broadcast(u.full().tensor(), modifierRank).await();
        repartition(u);
      }
      owner.lifecycle().releaseNow(u);
    }
  }

  private void repartition(UnitParams u) {
    int rank = owner.unitComm().comm().rank();
    try (Tensor fresh = u.full().tensor().narrow(0, rank * u.chunk(), u.chunk())) {
      owner.adoptEdits(u, fresh);
    }
  }
}
