package org.zero4j.engine;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.StringTensorDict;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.engine.config.AutoValues;
import org.zero4j.engine.config.EngineConfig;
import org.zero4j.engine.launch.DistEnv;
import org.zero4j.engine.launch.IntraOpThreads;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.kernels.adam.FlatAdam;
import org.zero4j.kernels.adam.TorchAdam;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.comm.Collectives;
import org.zero4j.zero.comm.CommSpec;
import org.zero4j.zero.stage3.ShardedModel;
import org.zero4j.zero.stage3.ShardedUnit;

/**
 * zero4j's {@code deepspeed.initialize}: builds an {@link Engine} from a model and a DeepSpeed JSON
 * config.
 *
 * <pre>{@code
 * Engine engine = Zero4j.initialize(model, Path.of("ds_config.json"));
 * for (Batch b : batches) {
 *   Tensor loss = model.loss(b.x(), b.y());
 *   engine.backward(loss);
 *   engine.step();
 * }
 * }</pre>
 *
 * <p>The rank and world size come from the launcher's environment (RANK, WORLD_SIZE, MASTER_ADDR,
 * MASTER_PORT, or SLURM's / Open MPI's variables); {@link #setup(Module)} lets tests and embedding
 * programs pass their own {@link Collectives}, "auto" values and optimizer kernel.
 */
public final class Zero4j {

  private Zero4j() {}

  /** Initializes from a config file, with ranks from the environment and no "auto" hints. */
  public static Engine initialize(Module model, Path config) {
    return setup(model).config(config).start();
  }

  /** Starts a setup for {@code model}; its trainable parameters are taken over by the engine. */
  public static Setup setup(Module model) {
    Setup s = new Setup(named(model));
    if (model instanceof ShardedModel sharded) {
      s.units(sharded.units());
    }
    return s;
  }

  /** Starts a setup for explicitly named parameters. */
  public static Setup setup(List<NamedParameter> parameters) {
    return new Setup(List.copyOf(parameters));
  }

  /** Builder for an {@link Engine}. */
  public static final class Setup {
    private final List<NamedParameter> params;
    private List<ShardedUnit> units = List.of();
    private Path configFile;
    private String configJson;
    private AutoValues autos = AutoValues.NONE;
    private Collectives comm;
    private FlatAdam adam;
    private AdamHyperparams clientOptimizer;

    private Setup(List<NamedParameter> params) {
      this.params = params;
    }

    /**
     * The sharding units for ZeRO stage 3 (found automatically when the model is a {@link
     * ShardedModel}); parameters outside them form the root unit. Ignored below stage 3, where
     * units just run their bodies.
     */
    public Setup units(List<ShardedUnit> sharding) {
      this.units = List.copyOf(sharding);
      return this;
    }

    /** The DeepSpeed JSON config file. */
    public Setup config(Path file) {
      this.configFile = Objects.requireNonNull(file);
      this.configJson = null;
      return this;
    }

    /** The DeepSpeed JSON config as a string. */
    public Setup config(String json) {
      this.configJson = Objects.requireNonNull(json);
      this.configFile = null;
      return this;
    }

    /** What the program knows for the config's "auto" values (micro batch, lr, total steps...). */
    public Setup autos(AutoValues values) {
      this.autos = Objects.requireNonNull(values);
      return this;
    }

    /** An already connected group (tests, {@code LocalRanks}); the engine will not close it. */
    public Setup collectives(Collectives group) {
      this.comm = Objects.requireNonNull(group);
      return this;
    }

    /**
     * The optimizer kernel for the partitioned update. Default: the fused native {@link CpuAdam}
     * with libtorch's intra-op thread count, or libtorch ops ({@link TorchAdam}) when the config
     * sets {@code optimizer.params.torch_adam}, which in DeepSpeed selects torch's implementation.
     */
    public Setup adam(FlatAdam kernel) {
      this.adam = Objects.requireNonNull(kernel);
      return this;
    }

    /**
     * The optimizer when the config has no {@code optimizer} block (DeepSpeed's client optimizer,
     * {@code deepspeed.initialize(optimizer=...)}); giving both is an error, as in DeepSpeed.
     */
    public Setup optimizer(AdamHyperparams hyperparams) {
      this.clientOptimizer = Objects.requireNonNull(hyperparams);
      return this;
    }

    /** Connects (if needed), validates the config for the world size and builds the engine. */
    public Engine start() {
      if (configFile == null && configJson == null) {
        throw new IllegalArgumentException(
            "no DeepSpeed config given; pass a JSON file or string to Setup.config(...)");
      }
      boolean ownsComm = comm == null;
      Collectives group = comm;
      if (group == null) {
        IntraOpThreads.apply();
        DistEnv env = DistEnv.fromSystem();
        EngineConfig probe = load(env.worldSize());
        group =
            Collectives.connect(
                new CommSpec(
                    env.rank(),
                    env.worldSize(),
                    env.masterAddr(),
                    env.masterPort(),
                    Duration.ofSeconds(probe.collectiveTimeoutSeconds())));
      }
      try {
        EngineConfig config = load(group.worldSize());
        return new Engine(
            params, units, config, group, ownsComm, kernelFor(config), optimizerFor(config));
      } catch (RuntimeException e) {
        if (ownsComm) {
          group.close();
        }
        throw e;
      }
    }

    // Note [cpuadam_cores_perc]: with optimizer offload the CPU Adam kernel gets
    // max(1, round(cpuadam_cores_perc x intra-op threads)) threads. It bounds zero4j's own kernel
    // only, so a non-default value with another kernel (torch_adam, Setup.adam) or without offload
    // is refused instead of ignored.
    private FlatAdam kernelFor(EngineConfig config) {
      var off = config.zero().offloadOptimizer();
      boolean offloaded = off != null && off.device() != OffloadDevice.NONE;
      boolean coresSet = off != null && off.cpuadamCoresPerc() != DEFAULT_CORES_PERC;
      boolean torchAdam = config.optimizer() != null && config.optimizer().torchAdam();
      if (coresSet && (adam != null || torchAdam || !offloaded)) {
        throw new IllegalArgumentException(
            "zero_optimization.offload_optimizer.cpuadam_cores_perc="
                + off.cpuadamCoresPerc()
                + " bounds the threads of zero4j's CPU Adam kernel under optimizer offload, but "
                + (!offloaded
                    ? "offload_optimizer.device is none"
                    : torchAdam
                        ? "optimizer.params.torch_adam selects libtorch's Adam"
                        : "the program passed its own kernel through Setup.adam")
                + "; remove the key, or use the default kernel with offload");
      }
      if (adam != null) {
        return adam;
      }
      if (torchAdam) {
        return new TorchAdam();
      }
      int threads = Math.max(1, torch.get_num_threads());
      if (offloaded) {
        threads = (int) Math.max(1, Math.round(off.cpuadamCoresPerc() * threads));
      }
      return new CpuAdam(threads);
    }

    private static final double DEFAULT_CORES_PERC = 0.8;

    private AdamHyperparams optimizerFor(EngineConfig config) {
      if (config.optimizer() != null && clientOptimizer != null) {
        throw new IllegalArgumentException(
            "the config has an \"optimizer\" block and the program also passed an optimizer;"
                + " keep one of them, as DeepSpeed requires");
      }
      if (config.optimizer() != null) {
        return config.optimizer().hyperparams();
      }
      if (clientOptimizer != null) {
        return clientOptimizer;
      }
      throw new IllegalArgumentException(
          "the config has no \"optimizer\" block and the program passed none; add"
              + " {\"type\": \"AdamW\", \"params\": {\"lr\": ...}} to the config, or call"
              + " Setup.optimizer(...)");
    }

    private EngineConfig load(int worldSize) {
      return configFile != null
          ? EngineConfig.load(configFile, worldSize, autos)
          : EngineConfig.load(configJson, worldSize, autos);
    }
  }

  /** The trainable parameters of {@code model} with their dotted names, in registration order. */
  public static List<NamedParameter> named(Module model) {
    List<NamedParameter> out = new ArrayList<>();
    StringTensorDict dict = model.named_parameters(true);
    for (long i = 0; i < dict.size(); i++) {
      // Note [owning handles]: value() points into the dict's storage, which is freed with the
      // dict; the copy constructor takes a reference of its own on the parameter.
      Tensor t = new Tensor(dict.get(i).value());
      if (t.requires_grad()) {
        out.add(new NamedParameter(dict.get(i).key().getString(), t));
      }
    }
    return out;
  }
}
