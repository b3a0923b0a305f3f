package org.zero4j.engine.checkpoint;

import org.zero4j.engine.config.EngineConfig;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.zero.ZeroOptimizer;
import org.zero4j.zero.comm.Collectives;

/**
 * What a save reads from the engine, and a load writes back into: the ZeRO optimizer (parameters,
 * layout, master shard, moments), the collectives, the config and the scalar training state.
 *
 * @param zero the engine's ZeRO optimizer of stages 0-2; null at stage 3, which {@link
 *     #refuseUnsupported} refuses
 * @param comm the engine's collectives
 * @param config the engine's resolved config
 * @param steps the engine's counters
 * @param scaler the loss scaler's state
 * @param scheduler the LR schedule's state
 */
public record EngineSnapshot(
    ZeroOptimizer zero,
    Collectives comm,
    EngineConfig config,
    CheckpointManifest.Steps steps,
    CheckpointManifest.ScalerState scaler,
    CheckpointManifest.SchedulerState scheduler) {

  /**
   * Refuses what checkpoints do not cover yet (stage 3, parameter offload, optimizer state swapped
   * to NVMe), so no save or load is silently incomplete. Optimizer offload to {@code cpu} keeps the
   * state in ordinary host tensors and is covered.
   */
  void refuseUnsupported(String what) {
    var z = config.zero();
    String offload = null;
    if (z.offloadOptimizer() != null && z.offloadOptimizer().device() == OffloadDevice.NVME) {
      offload = "offload_optimizer.device=nvme";
    }
    if (z.offloadParam() != null && z.offloadParam().device() != OffloadDevice.NONE) {
      offload = "offload_param.device=" + z.offloadParam().device().jsonName();
    }
    if (z.stage() > 2 || offload != null) {
      throw new IllegalArgumentException(
          what
              + " at ZeRO stage "
              + z.stage()
              + (offload != null ? " with zero_optimization." + offload : "")
              + " is not supported yet: checkpoints cover stages 0-2 with optimizer state in"
              + " memory or offloaded to cpu");
    }
  }
}
