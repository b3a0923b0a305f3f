package org.zero4j.engine;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.engine.checkpoint.CheckpointLoader;
import org.zero4j.engine.checkpoint.CheckpointManifest;
import org.zero4j.engine.checkpoint.CheckpointSaver;
import org.zero4j.engine.checkpoint.EngineSnapshot;
import org.zero4j.engine.checkpoint.LoadedCheckpoint;
import org.zero4j.engine.checkpoint.SamplerPosition;
import org.zero4j.engine.checkpoint.SaveFaults;
import org.zero4j.engine.config.EngineConfig;
import org.zero4j.engine.config.Fp16Config;
import org.zero4j.engine.schedule.LrSchedule;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.FlatAdam;
import org.zero4j.zero.MemoryBreakdown;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.OptimizerOffload;
import org.zero4j.zero.Precision;
import org.zero4j.zero.StepResult;
import org.zero4j.zero.ZeroOptimizer;
import org.zero4j.zero.ZeroRuntime;
import org.zero4j.zero.comm.Collectives;
import org.zero4j.zero.comm.CommStats;
import org.zero4j.zero.precision.LossScaler;
import org.zero4j.zero.stage3.ParamOffload;
import org.zero4j.zero.stage3.ShardedUnit;
import org.zero4j.zero.stage3.Stage3Optimizer;
import org.zero4j.zero.stage3.Stage3Options;

/**
 * The training engine: the user keeps their loop and calls {@link #backward(Tensor)} and {@link
 * #step()} once per micro-batch. The engine accumulates gradients, and at each accumulation
 * boundary reduces them across ranks, unscales, checks for overflow, clips, updates through ZeRO,
 * and advances the learning-rate schedule, with DeepSpeed's semantics.
 */
public final class Engine implements AutoCloseable {

  private final EngineConfig config;
  private final Collectives comm;
  private final boolean ownsComm;
  private final ZeroRuntime zero;
  private final LossScaler scaler;
  private final AdamHyperparams baseHp;
  private final LrSchedule schedule;
  private final StepReport report;
  private long microSteps;
  private long globalSteps;
  private long appliedSteps;
  private long skippedSteps;
  private double lastGradNorm = Double.NaN;
  // Note [step origins]: Adam's step count and the LR schedule's position are appliedSteps minus
  // these origins; both stay 0 except after a checkpoint load that skipped the optimizer or the
  // scheduler state, which restarts that count as DeepSpeed's fresh optimizer or scheduler would.
  private long adamStepOrigin;
  private long scheduleOrigin;

  Engine(
      List<NamedParameter> params,
      List<ShardedUnit> units,
      EngineConfig config,
      Collectives comm,
      boolean ownsComm,
      FlatAdam adam,
      AdamHyperparams hyperparams) {
    refuseUnsupported(config);
    this.config = config;
    this.comm = comm;
    this.ownsComm = ownsComm;
    this.baseHp = hyperparams;
    this.schedule = config.scheduler() == null ? null : config.scheduler().build(baseHp.lr());
    Precision working = config.precision();
    convert(params, working);
    Precision wire =
        config.communicationDataType() == null ? working : config.communicationDataType();
    var z = config.zero();
    this.zero =
        z.stage() == 3
            ? new Stage3Optimizer(
                params,
                units,
                new Stage3Options(
                    working,
                    wire,
                    z.reduceBucketSize(),
                    z.overlapComm(),
                    z.ignoreUnusedParameters(),
                    z.stage3()),
                comm,
                adam,
                OptimizerOffload.of(z.offloadOptimizer(), config.aio(), z.subGroupSize()),
                ParamOffload.of(z.offloadParam(), config.aio()))
            : new ZeroOptimizer(
                params,
                new ZeroOptimizer.Options(
                    z.stage(),
                    working,
                    wire,
                    z.reduceBucketSize(),
                    z.allgatherBucketSize(),
                    z.overlapComm(),
                    z.reduceScatter(),
                    z.allgatherPartitions(),
                    z.ignoreUnusedParameters()),
                comm,
                adam,
                OptimizerOffload.of(z.offloadOptimizer(), config.aio(), z.subGroupSize()));
    this.scaler = scalerFor(config.fp16());
    this.report = new StepReport(config, comm.rank());
  }

  private static void refuseUnsupported(EngineConfig config) {
    if (!config.unsupportedFeatures().isEmpty()) {
      throw new IllegalArgumentException(
          "this config is valid for DeepSpeed but uses features zero4j does not support yet: "
              + String.join("; ", config.unsupportedFeatures()));
    }
  }

  // DeepSpeed converts the module to the 16-bit type at initialize; the fp32 master weights are
  // then made from these 16-bit values.
  private static void convert(List<NamedParameter> params, Precision working) {
    for (NamedParameter p : params) {
      Tensor t = p.tensor();
      if (t.scalar_type().value != working.scalarType().value) {
        // closed at once: the detached handle would keep the fp32 weights until a GC
        try (Tensor d = t.detach();
            Tensor converted = d.to(working.scalarType())) {
          t.set_data(converted);
        }
      }
    }
  }

  private static LossScaler scalerFor(Fp16Config fp16) {
    if (!fp16.enabled()) {
      return LossScaler.none();
    }
    if (fp16.lossScale() > 0) {
      return LossScaler.fixed(fp16.lossScale());
    }
    return LossScaler.dynamic(
        fp16.initialScalePower(),
        fp16.lossScaleWindow(),
        fp16.hysteresis(),
        fp16.consecutiveHysteresis(),
        fp16.minLossScale());
  }

  /**
   * Back-propagates one micro-batch's loss, scaled by {@code 1 / gradient_accumulation_steps} and
   * by the fp16 loss scale.
   *
   * @throws IllegalStateException if the loss is NaN or infinite outside fp16 (with fp16 an
   *     overflow is handled by skipping the step)
   */
  public void backward(Tensor loss) {
    double value;
    try (Tensor d = loss.detach();
        Tensor d64 = d.to(torch.ScalarType.Double)) {
      value = d64.item_double();
    }
    if (!Double.isFinite(value) && config.precision() != Precision.FP16) {
      throw new IllegalStateException(
          "loss is "
              + value
              + " at global step "
              + globalSteps
              + " on rank "
              + comm.rank()
              + "; lower the learning rate, enable gradient_clipping, or check the input data,"
              + " then resume from the last checkpoint");
    }
    report.addLoss(value);
    long t0 = System.nanoTime();
    zero.beforeBackward();
    double factor = scaler.scale() / config.gradientAccumulationSteps();
    try (Scalar f = new Scalar(factor);
        Tensor scaled = loss.mul(f)) {
      scaled.backward();
    }
    zero.afterBackward();
    report.addBackwardNanos(System.nanoTime() - t0);
  }

  /**
   * Call after every {@link #backward(Tensor)}: acts only at the gradient accumulation boundary,
   * where it reduces, unscales, checks overflow, clips, updates, steps the LR schedule and zeroes
   * the gradients.
   */
  public void step() {
    if (isGradientAccumulationBoundary()) {
      long t0 = System.nanoTime();
      AdamHyperparams hp = currentHyperparams();
      StepResult r =
          zero.step(
              hp, appliedSteps - adamStepOrigin + 1, scaler.scale(), config.gradientClipping());
      lastGradNorm = r.gradNorm();
      scaler.update(r.skipped());
      if (r.skipped()) {
        skippedSteps++;
      } else {
        appliedSteps++;
      }
      globalSteps++;
      report.afterStep(this, System.nanoTime() - t0, r.skipped());
    }
    microSteps++;
  }

  private AdamHyperparams currentHyperparams() {
    if (schedule == null) {
      return baseHp;
    }
    // OneCycle with cycle_momentum sets beta1 per step and pins beta2, as DeepSpeed does.
    long s = appliedSteps - scheduleOrigin;
    return new AdamHyperparams(
        schedule.lrAt(s),
        schedule.beta1At(s).orElse(baseHp.beta1()),
        schedule.beta2At(s).orElse(baseHp.beta2()),
        baseHp.eps(),
        baseHp.weightDecay(),
        baseHp.adamWMode(),
        baseHp.biasCorrection());
  }

  /** True when the next {@link #step()} will update the parameters. */
  public boolean isGradientAccumulationBoundary() {
    return (microSteps + 1) % config.gradientAccumulationSteps() == 0;
  }

  /** The learning rate the next optimizer step will use. */
  public double getLr() {
    return currentHyperparams().lr();
  }

  /** The global gradient norm of the last step (before clipping), NaN before the first. */
  public double getGlobalGradNorm() {
    return lastGradNorm;
  }

  /** The current fp16 loss scale (1 without fp16). */
  public double lossScale() {
    return scaler.scale();
  }

  /** Steps skipped because gradients overflowed. */
  public long skippedSteps() {
    return skippedSteps;
  }

  /** Optimizer steps taken or skipped (DeepSpeed's {@code global_steps}). */
  public long globalSteps() {
    return globalSteps;
  }

  /** Micro-steps ({@code step()} calls) so far. */
  public long microSteps() {
    return microSteps;
  }

  /** This rank. */
  public int rank() {
    return comm.rank();
  }

  /** Number of data-parallel ranks. */
  public int worldSize() {
    return comm.worldSize();
  }

  /** The resolved config. */
  public EngineConfig config() {
    return config;
  }

  /** Bytes of model state held by this rank, per kind. */
  public MemoryBreakdown memoryBreakdown() {
    return zero.memory();
  }

  /** Bytes communicated by this rank, per collective. */
  public CommStats commStats() {
    return comm.stats();
  }

  /** The ZeRO optimizer of stages 0-2 (for inspection). */
  public ZeroOptimizer zeroOptimizer() {
    if (zero instanceof ZeroOptimizer z) {
      return z;
    }
    throw new IllegalStateException(
        "this engine runs ZeRO stage 3, which has no ZeroOptimizer; use stage3Optimizer()");
  }

  /** The ZeRO stage-3 optimizer (for inspection and whole-model access). */
  public Stage3Optimizer stage3Optimizer() {
    if (zero instanceof Stage3Optimizer z) {
      return z;
    }
    throw new IllegalStateException(
        "this engine runs ZeRO stage " + config.zero().stage() + ", not 3; use zeroOptimizer()");
  }

  /**
   * The mean of {@code value} over all ranks, for logging a loss or metric; every rank must call it
   * at the same point.
   */
  public double meanOverRanks(double value) {
    if (comm.worldSize() == 1) {
      return value;
    }
    try (Scalar v = new Scalar(value);
        Tensor t = torch.full(new long[] {1}, v);
        Tensor d = t.to(torch.ScalarType.Double)) {
      comm.allReduce(d).await();
      return d.item_double() / comm.worldSize();
    }
  }

  /**
   * Writes the model's weights in the working precision (16-bit in mixed precision) to {@code file}
   * on rank 0, as DeepSpeed's {@code save_16bit_model}; see {@link ModelWeightsFile}. Every rank
   * calls it at the same point. At stage 3 the weights are gathered unit by unit, so rank 0 holds
   * the result plus one unit; as in DeepSpeed this needs {@code
   * zero_optimization.stage3_gather_16bit_weights_on_model_save: true}.
   *
   * @return true on the rank that wrote the file
   */
  public boolean save16BitModel(Path file) {
    Map<String, Tensor> weights;
    if (zero instanceof Stage3Optimizer s3) {
      if (!config.zero().stage3().gather16bitWeightsOnModelSave()) {
        throw new IllegalStateException(
            "save16BitModel at ZeRO stage 3 gathers the partitioned weights, which DeepSpeed"
                + " allows only with zero_optimization.stage3_gather_16bit_weights_on_model_save:"
                + " true; set it in the config");
      }
      weights = s3.consolidatedStateDict(0);
    } else {
      weights = comm.rank() == 0 ? ModelWeightsFile.copies(zeroOptimizer().parameters()) : null;
    }
    boolean wrote = comm.rank() == 0;
    if (wrote) {
      ModelWeightsFile.write(file, weights);
      weights.values().forEach(Tensor::close);
    }
    comm.barrier();
    return wrote;
  }

  /**
   * Saves a checkpoint under {@code dir/tag/} (tag null: {@code global_step<N>}) and points {@code
   * dir/latest} at it; see {@link CheckpointSaver} for the layout and the crash-safety protocol.
   * Every rank calls it at the same point, at a gradient accumulation boundary.
   *
   * @param clientState the user's JSON-serialisable map, returned by {@link #loadCheckpoint}
   * @return the tag directory
   */
  public Path saveCheckpoint(Path dir, String tag, Map<String, Object> clientState) {
    return saveCheckpoint(dir, tag, clientState, null, SaveFaults.NONE);
  }

  /**
   * {@link #saveCheckpoint(Path, String, Map)} with the data loader's position, returned on load so
   * a resumed run skips the batches already consumed, and a fault-injection point for crash tests
   * ({@link SaveFaults#NONE} otherwise).
   */
  public Path saveCheckpoint(
      Path dir,
      String tag,
      Map<String, Object> clientState,
      SamplerPosition sampler,
      SaveFaults faults) {
    if (microSteps % config.gradientAccumulationSteps() != 0) {
      throw new IllegalStateException(
          "saveCheckpoint called after micro-step "
              + microSteps
              + ", inside a gradient accumulation window of "
              + config.gradientAccumulationSteps()
              + "; the accumulated gradients are not saved, so save right after the step() that"
              + " ends the window");
    }
    return new CheckpointSaver(snapshot(), faults).save(dir, tag, clientState, sampler);
  }

  /**
   * Loads the checkpoint {@code dir/tag} (tag null: the one {@code dir/latest} names), saved at any
   * world size and any stage 0-3. Every rank calls it at the same point.
   *
   * @param loadOptimizerStates restore the fp32 masters, Adam moments, Adam's step count and the
   *     loss scaler; if false the masters are re-derived from the saved model weights with zero
   *     moments
   * @param loadLrSchedulerStates continue the LR schedule where it was; if false it restarts
   * @param loadModuleOnly load only the model weights (masters re-derived, moments zeroed), leaving
   *     every counter and the schedule as they are
   * @return the tag, the client state and the saved data position
   */
  public LoadedCheckpoint loadCheckpoint(
      Path dir,
      String tag,
      boolean loadOptimizerStates,
      boolean loadLrSchedulerStates,
      boolean loadModuleOnly) {
    CheckpointManifest m =
        new CheckpointLoader(snapshot()).load(dir, tag, loadOptimizerStates, loadModuleOnly);
    if (!loadModuleOnly) {
      CheckpointManifest.Steps s = m.steps();
      int gas = config.gradientAccumulationSteps();
      microSteps = (s.microSteps() + gas - 1) / gas * gas;
      globalSteps = s.globalSteps();
      appliedSteps = s.appliedSteps();
      skippedSteps = s.skippedSteps();
      adamStepOrigin = loadOptimizerStates ? appliedSteps - s.optimizerSteps() : appliedSteps;
      scheduleOrigin = loadLrSchedulerStates ? appliedSteps - s.schedulerSteps() : appliedSteps;
      boolean samePrecision = m.dtype().equalsIgnoreCase(config.precision().name());
      if (loadOptimizerStates && samePrecision) {
        CheckpointManifest.ScalerState l = m.lossScaler();
        scaler.restore(
            new LossScaler.State(l.scale(), l.curIter(), l.lastOverflowIter(), l.curHysteresis()));
      }
    }
    return new LoadedCheckpoint(
        m.tag(),
        dir.resolve(m.tag()),
        m.clientState(),
        m.sampler(),
        m.steps().globalSteps(),
        m.worldSize());
  }

  /**
   * Writes the model's working-precision (16-bit in mixed precision) weights to {@code
   * dir/fileName} as one safetensors state dict, on rank 0 (DeepSpeed's {@code save_16bit_model}).
   * At ZeRO stage 3 this needs {@code zero_optimization.stage3_gather_16bit_weights_on_model_save}:
   * the weights are then gathered one sharding unit at a time and streamed to the file, so no rank
   * holds the model. Every rank calls it at the same point.
   *
   * @return the file written, on every rank
   * @throws IllegalStateException at stage 3 without the gather setting, as DeepSpeed declines
   */
  public Path save16bitModel(Path dir, String fileName) {
    if (config.zero().stage() == 3 && !config.zero().stage3().gather16bitWeightsOnModelSave()) {
      throw new IllegalStateException(
          "save16bitModel at ZeRO stage 3 gathers the whole model unit by unit, which needs"
              + " zero_optimization.stage3_gather_16bit_weights_on_model_save=true; set it, or"
              + " save a checkpoint and consolidate it with zero4j to-fp32");
    }
    Path file = dir.resolve(fileName);
    if (comm.rank() == 0) {
      try {
        java.nio.file.Files.createDirectories(dir);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException("cannot create " + dir + ": " + e.getMessage(), e);
      }
    }
    CheckpointSaver.save16bitModel(file, zero, config.precision(), comm.rank());
    comm.barrier();
    return file;
  }

  private EngineSnapshot snapshot() {
    LossScaler.State l = scaler.state();
    return new EngineSnapshot(
        zero,
        comm,
        config,
        new CheckpointManifest.Steps(
            globalSteps,
            microSteps,
            appliedSteps,
            skippedSteps,
            appliedSteps - adamStepOrigin,
            appliedSteps - scheduleOrigin),
        new CheckpointManifest.ScalerState(
            l.scale(), l.curIter(), l.lastOverflowIter(), l.curHysteresis()),
        new CheckpointManifest.SchedulerState(
            config.scheduler() == null ? null : config.scheduler().type(),
            appliedSteps - scheduleOrigin,
            getLr()));
  }

  @Override
  public void close() {
    report.close();
    zero.close();
    if (ownsComm) {
      comm.close();
    }
  }
}
