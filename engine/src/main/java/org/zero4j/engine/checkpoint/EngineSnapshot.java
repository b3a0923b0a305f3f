package org.zero4j.engine.checkpoint;

import org.zero4j.engine.config.EngineConfig;
import org.zero4j.zero.PartitionedState;
import org.zero4j.zero.comm.Collectives;

/**
 * What a save reads from the engine, and a load writes back into: the partitioned model and
 * optimizer state (any stage, any optimizer offload placement), the collectives, the config and the
 * scalar training state.
 *
 * @param state the engine's ZeRO runtime, seen through {@link PartitionedState}
 * @param comm the engine's collectives
 * @param config the engine's resolved config
 * @param steps the engine's counters
 * @param scaler the loss scaler's state
 * @param scheduler the LR schedule's state
 */
public record EngineSnapshot(
    PartitionedState state,
    Collectives comm,
    EngineConfig config,
    CheckpointManifest.Steps steps,
    CheckpointManifest.ScalerState scaler,
    CheckpointManifest.SchedulerState scheduler) {}
