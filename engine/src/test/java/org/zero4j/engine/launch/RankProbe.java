package org.zero4j.engine.launch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A tiny rank main for launcher tests: records its pid and environment in {@code args[0]}, prints
 * one line to each stream, then behaves as {@code args[1]} says. It loads libtorch only in mode
 * {@code torch}.
 */
public final class RankProbe {

  static final List<String> VARIABLES =
      List.of(
          "RANK",
          "WORLD_SIZE",
          "LOCAL_RANK",
          "LOCAL_WORLD_SIZE",
          "GROUP_RANK",
          "MASTER_ADDR",
          "MASTER_PORT",
          "OMP_NUM_THREADS");

  private RankProbe() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    String mode = args[1];
    String rank = System.getenv("RANK");
    String env =
        Stream.concat(
                VARIABLES.stream().map(k -> k + "=" + System.getenv(k)),
                Stream.of(
                    "threads=" + System.getProperty(IntraOpThreads.PROPERTY),
                    "distenv=" + DistEnv.fromSystem(),
                    "args=" + String.join(" ", List.of(args).subList(2, args.length))))
            .collect(Collectors.joining("\n"));
    publish(dir.resolve("env-" + rank), env);
    publish(dir.resolve("pid-" + rank), Long.toString(ProcessHandle.current().pid()));
    System.out.println("hello from rank " + rank);
    System.err.println("note from rank " + rank);
    switch (mode) {
      case "ok" -> {}
      case "torch" -> {
        IntraOpThreads.apply();
        System.out.println("threads=" + org.bytedeco.pytorch.global.torch.get_num_threads());
      }
      case "sleep" -> Thread.sleep(120_000);
      case "fail" -> {
        if (rank.equals("1")) {
          // Exits only once rank 0 has a child, so the test can check that the child is killed too.
          Path child = dir.resolve("child-0");
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
          while (!Files.exists(child) && System.nanoTime() < deadline) {
            Thread.sleep(20);
          }
          System.exit(Files.exists(child) ? 3 : 4);
        }
        Process sleeper = new ProcessBuilder("sleep", "120").start();
        publish(dir.resolve("child-0"), Long.toString(sleeper.pid()));
        Thread.sleep(120_000);
      }
      default -> throw new IllegalArgumentException("unknown mode " + mode);
    }
  }

  /** Writes a file so that readers never see it half written. */
  private static void publish(Path file, String text) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.writeString(tmp, text);
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
  }
}
