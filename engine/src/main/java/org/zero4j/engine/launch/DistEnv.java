package org.zero4j.engine.launch;

import java.util.Map;

/**
 * Where this process sits in a distributed job, read from the variables a launcher exports.
 *
 * <p>Sources, first match wins:
 *
 * <ol>
 *   <li>torchrun, DeepSpeed's launcher and {@code zero4j launch}: {@code RANK}, {@code WORLD_SIZE},
 *       {@code LOCAL_RANK}, {@code LOCAL_WORLD_SIZE} (or DeepSpeed's {@code LOCAL_SIZE}), {@code
 *       MASTER_ADDR}, {@code MASTER_PORT};
 *   <li>Open MPI ({@code mpirun}): {@code OMPI_COMM_WORLD_RANK}, {@code OMPI_COMM_WORLD_SIZE},
 *       {@code OMPI_COMM_WORLD_LOCAL_RANK}, {@code OMPI_COMM_WORLD_LOCAL_SIZE};
 *   <li>SLURM ({@code srun}): {@code SLURM_PROCID}, {@code SLURM_NTASKS}, {@code SLURM_LOCALID},
 *       and the tasks on this node from {@code SLURM_NTASKS_PER_NODE} or {@code
 *       SLURM_TASKS_PER_NODE};
 *   <li>none of them: a single process (rank 0 of 1 on 127.0.0.1:29500).
 * </ol>
 *
 * <p>An explicit {@code MASTER_ADDR} / {@code MASTER_PORT} always wins over a derived one.
 *
 * @param rank global rank, in {@code [0, worldSize)}
 * @param worldSize number of processes in the job
 * @param localRank rank among the processes on this node, in {@code [0, localWorldSize)}
 * @param localWorldSize number of processes on this node
 * @param masterAddr host of rank 0, where the rendezvous store listens
 * @param masterPort port of the rendezvous store, in {@code [1, 65535]}
 */
public record DistEnv(
    int rank, int worldSize, int localRank, int localWorldSize, String masterAddr, int masterPort) {

  /** The port torchrun and DeepSpeed use when none is given. */
  public static final int DEFAULT_MASTER_PORT = 29500;

  /** The rendezvous host of a job that runs on one node. */
  public static final String LOOPBACK = "127.0.0.1";

  public DistEnv {
    if (worldSize < 1) {
      throw new IllegalArgumentException(
          "world size " + worldSize + " must be at least 1; set WORLD_SIZE to the process count");
    }
    if (rank < 0 || rank >= worldSize) {
      throw new IllegalArgumentException(
          "rank "
              + rank
              + " must be in [0, "
              + worldSize
              + ") for world size "
              + worldSize
              + "; check RANK and WORLD_SIZE");
    }
    if (localWorldSize < 1 || localWorldSize > worldSize) {
      throw new IllegalArgumentException(
          "local world size "
              + localWorldSize
              + " must be in [1, "
              + worldSize
              + "] (the world size); check LOCAL_WORLD_SIZE");
    }
    if (localRank < 0 || localRank >= localWorldSize) {
      throw new IllegalArgumentException(
          "local rank "
              + localRank
              + " must be in [0, "
              + localWorldSize
              + ") for local world size "
              + localWorldSize
              + "; check LOCAL_RANK and LOCAL_WORLD_SIZE");
    }
    if (masterAddr == null || masterAddr.isBlank()) {
      throw new IllegalArgumentException(
          "master address is empty; set MASTER_ADDR to rank 0's host");
    }
    if (masterPort < 1 || masterPort > 65535) {
      throw new IllegalArgumentException(
          "master port " + masterPort + " must be in [1, 65535]; set MASTER_PORT to a free port");
    }
  }

  /** The single-process job: rank 0 of 1 on the loopback address and the default port. */
  public static DistEnv single() {
    return new DistEnv(0, 1, 0, 1, LOOPBACK, DEFAULT_MASTER_PORT);
  }

  /** Reads this process's environment; see the class comment for the sources. */
  public static DistEnv fromSystem() {
    return from(System.getenv());
  }

  /**
   * Reads a job's placement from {@code env}.
   *
   * @throws IllegalArgumentException when a variable is not a number, values contradict each other,
   *     or a multi-node job does not say where rank 0 is; the message names the variable
   */
  public static DistEnv from(Map<String, String> env) {
    if (env.containsKey("RANK") || env.containsKey("WORLD_SIZE")) {
      return fromTorchrun(env);
    }
    if (env.containsKey("OMPI_COMM_WORLD_RANK")) {
      return fromOpenMpi(env);
    }
    if (env.containsKey("SLURM_PROCID")) {
      return SlurmEnv.read(env);
    }
    return single();
  }

  /** True when more than one process takes part. */
  public boolean isDistributed() {
    return worldSize > 1;
  }

  private static DistEnv fromTorchrun(Map<String, String> env) {
    int rank = requiredInt(env, "RANK");
    int world = requiredInt(env, "WORLD_SIZE");
    boolean hasLocalRank = env.containsKey("LOCAL_RANK");
    String localSizeKey = env.containsKey("LOCAL_WORLD_SIZE") ? "LOCAL_WORLD_SIZE" : "LOCAL_SIZE";
    boolean hasLocalSize = env.containsKey(localSizeKey);
    int localRank;
    int localWorld;
    if (hasLocalRank && hasLocalSize) {
      localRank = requiredInt(env, "LOCAL_RANK");
      localWorld = requiredInt(env, localSizeKey);
    } else if (!hasLocalRank && !hasLocalSize) {
      // Note [no local variables]: a hand-written launch that only sets RANK and WORLD_SIZE is
      // taken
      // as one node, which is what such scripts nearly always are; MASTER_ADDR still decides where.
      localRank = rank;
      localWorld = world;
    } else {
      throw new IllegalArgumentException(
          "LOCAL_RANK and LOCAL_WORLD_SIZE must be set together, but only "
              + (hasLocalRank ? "LOCAL_RANK" : localSizeKey)
              + " is set; export both, or neither for a single-node job");
    }
    Keys keys = new Keys("RANK", "WORLD_SIZE", "LOCAL_RANK", localSizeKey);
    return placed(keys, rank, world, localRank, localWorld, env);
  }

  private static DistEnv fromOpenMpi(Map<String, String> env) {
    int rank = requiredInt(env, "OMPI_COMM_WORLD_RANK");
    int world = requiredInt(env, "OMPI_COMM_WORLD_SIZE");
    int localRank = requiredInt(env, "OMPI_COMM_WORLD_LOCAL_RANK");
    int localWorld = requiredInt(env, "OMPI_COMM_WORLD_LOCAL_SIZE");
    Keys keys =
        new Keys(
            "OMPI_COMM_WORLD_RANK",
            "OMPI_COMM_WORLD_SIZE",
            "OMPI_COMM_WORLD_LOCAL_RANK",
            "OMPI_COMM_WORLD_LOCAL_SIZE");
    return placed(keys, rank, world, localRank, localWorld, env);
  }

  /** The variable names one launcher uses, so that errors name what the user actually set. */
  record Keys(String rank, String world, String localRank, String localWorld) {}

  /**
   * Checks the four placement numbers against each other, naming the launcher's own variables, then
   * adds the rendezvous address.
   */
  static DistEnv placed(
      Keys keys, int rank, int world, int localRank, int localWorld, Map<String, String> env) {
    if (world < 1) {
      throw new IllegalArgumentException(keys.world() + "=" + world + " must be at least 1");
    }
    if (rank >= world) {
      throw new IllegalArgumentException(
          keys.rank()
              + "="
              + rank
              + " must be less than "
              + keys.world()
              + "="
              + world
              + "; ranks count from 0");
    }
    if (localWorld < 1 || localWorld > world) {
      throw new IllegalArgumentException(
          keys.localWorld()
              + "="
              + localWorld
              + " must be in [1, "
              + keys.world()
              + "="
              + world
              + "]");
    }
    if (localRank >= localWorld) {
      throw new IllegalArgumentException(
          keys.localRank()
              + "="
              + localRank
              + " must be less than "
              + keys.localWorld()
              + "="
              + localWorld
              + "; local ranks count from 0");
    }
    return new DistEnv(
        rank, world, localRank, localWorld, master(env, world, localWorld), port(env));
  }

  /**
   * MASTER_ADDR when set; else loopback when every rank is on this node; else an error, because
   * nothing in the environment says which host runs rank 0.
   */
  static String master(Map<String, String> env, int world, int localWorld) {
    String addr = env.get("MASTER_ADDR");
    if (addr != null && !addr.isBlank()) {
      return addr.strip();
    }
    if (localWorld == world) {
      return LOOPBACK;
    }
    throw new IllegalArgumentException(
        "MASTER_ADDR is not set and the job spans several nodes ("
            + localWorld
            + " of "
            + world
            + " ranks on this node); export MASTER_ADDR=<host of rank 0>");
  }

  static int port(Map<String, String> env) {
    return env.containsKey("MASTER_PORT") ? requiredInt(env, "MASTER_PORT") : DEFAULT_MASTER_PORT;
  }

  /** The variable as a non-negative decimal integer; errors name the variable and its value. */
  static int requiredInt(Map<String, String> env, String key) {
    String raw = env.get(key);
    if (raw == null) {
      throw new IllegalArgumentException(
          key + " is not set, but the launcher's other variables are; export " + key);
    }
    try {
      int value = Integer.parseInt(raw.strip());
      if (value < 0) {
        throw new NumberFormatException();
      }
      return value;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          key + "='" + raw + "' is not a non-negative integer; fix or unset " + key, e);
    }
  }
}
