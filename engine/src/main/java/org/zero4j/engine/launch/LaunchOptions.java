package org.zero4j.engine.launch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * What {@code zero4j launch} starts on this node.
 *
 * @param nproc ranks to start on this node ({@code --nproc})
 * @param nnodes nodes in the job, each running its own launcher ({@code --nnodes})
 * @param nodeRank this node's index in {@code [0, nnodes)} ({@code --node-rank})
 * @param masterAddr host of global rank 0 ({@code --master-addr}); loopback on a single node
 * @param masterPort rendezvous port ({@code --master-port}); 0 picks a free port (single node only)
 * @param threads intra-op threads per rank ({@code --threads})
 * @param jvmOptions extra options for every rank's JVM, from {@code ZERO4J_JVM_OPTS}
 * @param mainClass the class whose {@code main} each rank runs
 * @param mainArgs arguments passed to every rank's {@code main}
 */
public record LaunchOptions(
    int nproc,
    int nnodes,
    int nodeRank,
    String masterAddr,
    int masterPort,
    int threads,
    List<String> jvmOptions,
    String mainClass,
    List<String> mainArgs) {

  /** The command's synopsis and flags, printed by {@code zero4j launch --help}. */
  public static final String USAGE =
      String.join(
          "\n",
          "usage: zero4j launch --nproc N [--nnodes K --node-rank R --master-addr A]",
          "                     [--master-port P] [--threads T] -- MAIN_CLASS [ARGS...]",
          "  --nproc N        ranks to start on this node",
          "  --nnodes K       nodes in the job, one launcher per node (default 1)",
          "  --node-rank R    this node's index in [0, K) (default 0)",
          "  --master-addr A  host of rank 0 (default 127.0.0.1; required when K > 1)",
          "  --master-port P  rendezvous port (default: a free port on one node, 29500 on several)",
          "  --threads T      intra-op threads per rank (default OMP_NUM_THREADS, else cores / N)",
          "Each rank gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT,",
          "OMP_NUM_THREADS and -D"
              + IntraOpThreads.PROPERTY
              + "; ZERO4J_JVM_OPTS adds JVM options.");

  public LaunchOptions {
    require(nproc >= 1, "--nproc " + nproc + " must be at least 1");
    require(nnodes >= 1, "--nnodes " + nnodes + " must be at least 1");
    require(
        nodeRank >= 0 && nodeRank < nnodes,
        "--node-rank " + nodeRank + " must be in [0, " + nnodes + ") for --nnodes " + nnodes);
    require(
        masterAddr != null && !masterAddr.isBlank(),
        "--master-addr is required with --nnodes " + nnodes + "; give the host of node rank 0");
    require(
        masterPort >= 0 && masterPort <= 65535,
        "--master-port " + masterPort + " must be in [0, 65535]");
    require(
        masterPort != 0 || nnodes == 1,
        "--master-port 0 (pick a free port) only works on one node; give every node the same port");
    require(threads >= 1, "--threads " + threads + " must be at least 1");
    require(
        mainClass != null && !mainClass.isBlank(),
        "no main class given; write it after '--', as in: zero4j launch --nproc 2 -- com.example.Train");
    jvmOptions = List.copyOf(jvmOptions);
    mainArgs = List.copyOf(mainArgs);
  }

  /** Global rank of this node's local rank {@code local}. */
  public int globalRank(int local) {
    return nodeRank * nproc + local;
  }

  /** Ranks in the whole job. */
  public int worldSize() {
    return nproc * nnodes;
  }

  /**
   * Parses the arguments after {@code launch}. Flags take {@code --flag value} or {@code
   * --flag=value}; the main class follows {@code --} or is the first non-flag argument.
   *
   * @param env supplies ZERO4J_JVM_OPTS and OMP_NUM_THREADS
   * @throws IllegalArgumentException naming the flag for bad, unknown or repeated flags
   */
  public static LaunchOptions parse(List<String> args, Map<String, String> env) {
    Map<String, String> flags = new HashMap<>();
    int i = 0;
    while (i < args.size()) {
      String arg = args.get(i);
      if (arg.equals("--")) {
        i++;
        break;
      }
      if (!arg.startsWith("--")) {
        break;
      }
      String name;
      String value;
      int eq = arg.indexOf('=');
      if (eq > 0) {
        name = arg.substring(0, eq);
        value = arg.substring(eq + 1);
      } else {
        name = arg;
        require(i + 1 < args.size(), name + " needs a value");
        value = args.get(++i);
      }
      require(FLAGS.contains(name), "unknown option " + name + "\n" + USAGE);
      require(flags.put(name, value) == null, name + " is given twice");
      i++;
    }
    require(i < args.size(), "no main class given\n" + USAGE);
    String mainClass = args.get(i);
    List<String> mainArgs = args.subList(i + 1, args.size());

    int nproc = intFlag(flags, "--nproc", -1);
    require(nproc != -1, "--nproc is required\n" + USAGE);
    int nnodes = intFlag(flags, "--nnodes", 1);
    int defaultPort = nnodes == 1 ? 0 : DistEnv.DEFAULT_MASTER_PORT;
    String addr = flags.getOrDefault("--master-addr", nnodes == 1 ? DistEnv.LOOPBACK : null);
    OptionalInt omp = IntraOpThreads.configured(null, env);
    int defaultThreads =
        omp.orElse(Math.max(1, Runtime.getRuntime().availableProcessors() / Math.max(1, nproc)));
    return new LaunchOptions(
        nproc,
        nnodes,
        intFlag(flags, "--node-rank", 0),
        addr,
        intFlag(flags, "--master-port", defaultPort),
        intFlag(flags, "--threads", defaultThreads),
        jvmOptions(env.get("ZERO4J_JVM_OPTS")),
        mainClass,
        mainArgs);
  }

  private static final List<String> FLAGS =
      List.of("--nproc", "--nnodes", "--node-rank", "--master-addr", "--master-port", "--threads");

  private static int intFlag(Map<String, String> flags, String name, int fallback) {
    String raw = flags.get(name);
    if (raw == null) {
      return fallback;
    }
    try {
      return Integer.parseInt(raw.strip());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " '" + raw + "' is not an integer", e);
    }
  }

  /** Splits ZERO4J_JVM_OPTS on whitespace, as a shell would without quotes. */
  static List<String> jvmOptions(String raw) {
    if (raw == null || raw.isBlank()) {
      return List.of();
    }
    return new ArrayList<>(Arrays.asList(raw.strip().split("\\s+")));
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }
}
