package org.zero4j.engine.launch;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import org.bytedeco.javacpp.Loader;

/**
 * Starts this node's ranks as child JVMs and supervises them until all succeed or one fails.
 *
 * <p>Every rank runs the same {@code java} binary and class path as the launcher, with {@code
 * ZERO4J_JVM_OPTS}, the launcher's {@code -Dorg.bytedeco.*} settings, and the placement variables
 * torchrun exports. Output lines are prefixed with {@code [rank R] }.
 *
 * <p>Failure handling: when a rank exits with a non-zero code (or is killed), the others receive
 * SIGTERM, then SIGKILL after {@link #GRACE}, descendants included, and {@link #run} returns that
 * rank's exit code. A shutdown hook does the same when the launcher gets SIGINT or SIGTERM, and
 * each rank runs under {@link RankEntry}, which exits when the launcher disappears, even by
 * SIGKILL.
 */
public final class Launcher {

  /** How long a rank may take to exit after SIGTERM before it gets SIGKILL. */
  public static final Duration GRACE = Duration.ofSeconds(5);

  /** Environment variable carrying the launcher's pid to its ranks, for {@link RankEntry}. */
  static final String LAUNCHER_PID_ENV = "ZERO4J_LAUNCHER_PID";

  private final LaunchOptions options;
  private final List<RankProcess> ranks = new ArrayList<>();
  private boolean stopped;

  public Launcher(LaunchOptions options) {
    this.options = options;
  }

  /**
   * Runs the ranks to completion. Never calls {@code System.exit}.
   *
   * @param out receives the ranks' prefixed standard output
   * @param err receives the ranks' prefixed standard error and the launcher's own messages
   * @return 0 when every rank exits 0; else the first failing rank's exit code (1 if that is 0)
   */
  public int run(PrintStream out, PrintStream err) {
    // Note [natives once]: each rank extracts libtorch into ~/.javacpp/cache on its first load, and
    // two JVMs extracting at once can crash one with SIGBUS. Loading here first leaves a complete
    // cache that the ranks (sharing our org.bytedeco.* settings) only read.
    Loader.load(org.bytedeco.pytorch.global.torch.class);
    int port = options.masterPort() == 0 ? freePort() : options.masterPort();
    Thread hook = new Thread(this::stopAll, "zero4j-launch-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      BlockingQueue<RankProcess> exits = new LinkedBlockingQueue<>();
      for (int local = 0; local < options.nproc(); local++) {
        RankProcess rank = start(local, port, out, err);
        if (rank == null) {
          return 1;
        }
        rank.process.onExit().thenRun(() -> exits.add(rank));
      }
      return supervise(exits, err);
    } catch (IOException e) {
      err.println("zero4j launch: could not start a rank: " + e.getMessage());
      return 1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      err.println("zero4j launch: interrupted; stopping all ranks");
      return 130;
    } finally {
      stopAll();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException e) {
        // the JVM is already shutting down and the hook is running or has run
      }
    }
  }

  /** The command line of local rank {@code local}, for inspection and tests. */
  List<String> command(int local) {
    List<String> cmd = new ArrayList<>();
    cmd.add(javaBinary());
    System.getProperties().stringPropertyNames().stream()
        .filter(name -> name.startsWith("org.bytedeco."))
        .sorted()
        .forEach(name -> cmd.add("-D" + name + "=" + System.getProperty(name)));
    cmd.addAll(options.jvmOptions());
    cmd.add("-D" + IntraOpThreads.PROPERTY + "=" + options.threads());
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(RankEntry.class.getName());
    cmd.add(options.mainClass());
    cmd.addAll(options.mainArgs());
    return cmd;
  }

  /** The variables local rank {@code local} gets on top of the launcher's environment. */
  Map<String, String> environment(int local, int port) {
    return Map.of(
        "RANK",
        Integer.toString(options.globalRank(local)),
        "WORLD_SIZE",
        Integer.toString(options.worldSize()),
        "LOCAL_RANK",
        Integer.toString(local),
        "LOCAL_WORLD_SIZE",
        Integer.toString(options.nproc()),
        "GROUP_RANK",
        Integer.toString(options.nodeRank()),
        "MASTER_ADDR",
        options.masterAddr(),
        "MASTER_PORT",
        Integer.toString(port),
        IntraOpThreads.ENV,
        Integer.toString(options.threads()),
        LAUNCHER_PID_ENV,
        Long.toString(ProcessHandle.current().pid()));
  }

  private synchronized RankProcess start(int local, int port, PrintStream out, PrintStream err)
      throws IOException {
    if (stopped) {
      return null;
    }
    ProcessBuilder pb = new ProcessBuilder(command(local));
    pb.environment().putAll(environment(local, port));
    RankProcess rank = new RankProcess(options.globalRank(local), pb.start(), out, err);
    ranks.add(rank);
    return rank;
  }

  private int supervise(BlockingQueue<RankProcess> exits, PrintStream err)
      throws InterruptedException {
    for (int done = 0; done < options.nproc(); done++) {
      RankProcess rank = exits.take();
      int code = rank.process.exitValue();
      if (code != 0) {
        rank.drain(GRACE.toMillis() / 5);
        err.println(
            "zero4j launch: rank "
                + rank.rank
                + " (pid "
                + rank.pid()
                + ") exited with code "
                + code
                + signalNote(code)
                + "; stopping the other ranks");
        stopAll();
        return code;
      }
    }
    for (RankProcess rank : snapshot()) {
      rank.drain(GRACE.toMillis() / 5);
    }
    return 0;
  }

  /**
   * Stops every rank still running: SIGTERM, then SIGKILL for whatever is left after {@link
   * #GRACE}. Idempotent; also the body of the shutdown hook.
   */
  void stopAll() {
    List<RankProcess> all;
    synchronized (this) {
      stopped = true;
      all = List.copyOf(ranks);
    }
    all.forEach(RankProcess::terminate);
    long deadline = System.nanoTime() + GRACE.toNanos();
    try {
      for (RankProcess rank : all) {
        if (!rank.awaitGone(deadline)) {
          rank.kill();
        }
      }
      all.forEach(RankProcess::kill);
      long killDeadline = System.nanoTime() + GRACE.toNanos();
      for (RankProcess rank : all) {
        rank.awaitGone(killDeadline);
        rank.drain(100);
      }
    } catch (InterruptedException e) {
      all.forEach(RankProcess::kill);
      Thread.currentThread().interrupt();
    }
  }

  private synchronized List<RankProcess> snapshot() {
    return List.copyOf(ranks);
  }

  private static String signalNote(int code) {
    return code > 128 && code < 160 ? " (signal " + (code - 128) + " if it was killed)" : "";
  }

  private static String javaBinary() {
    return ProcessHandle.current()
        .info()
        .command()
        .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
  }

  private static int freePort() {
    try (ServerSocket socket = new ServerSocket(0)) {
      socket.setReuseAddress(true);
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("could not find a free port for MASTER_PORT", e);
    }
  }
}
