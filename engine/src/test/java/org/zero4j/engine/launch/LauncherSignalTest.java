package org.zero4j.engine.launch;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zero4j.engine.cli.Zero4jCli;

/** Stops a launcher running in its own JVM and checks that its ranks go with it. */
class LauncherSignalTest {

  @TempDir Path dir;

  @Test
  void sigtermOfTheLauncherStopsItsRanks() throws Exception {
    Process launcher = startLauncher();
    List<Long> ranks = awaitRankPids(launcher);
    launcher.destroy();
    // The shutdown hook stops the ranks before the launcher exits, so no grace period here.
    assertGone(launcher, ranks, 0);
  }

  @Test
  void sigkillOfTheLauncherStillStopsItsRanks() throws Exception {
    Process launcher = startLauncher();
    List<Long> ranks = awaitRankPids(launcher);
    launcher.destroyForcibly();
    // No hook runs on SIGKILL; each rank notices the launcher is gone and halts.
    assertGone(launcher, ranks, 15);
  }

  private Process startLauncher() throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElseThrow());
    cmd.addAll(LauncherTest.LIGHT_JVM);
    cmd.addAll(
        List.of(
            "-cp",
            System.getProperty("java.class.path"),
            Zero4jCli.class.getName(),
            "launch",
            "--nproc",
            "2",
            "--",
            RankProbe.class.getName(),
            dir.toString(),
            "sleep"));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().put("ZERO4J_JVM_OPTS", String.join(" ", LauncherTest.LIGHT_JVM));
    pb.redirectErrorStream(true);
    pb.redirectOutput(dir.resolve("launcher.log").toFile());
    return pb.start();
  }

  private List<Long> awaitRankPids(Process launcher) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    List<Long> pids = new ArrayList<>();
    for (int rank = 0; rank < 2; rank++) {
      Path file = dir.resolve("pid-" + rank);
      while (!Files.exists(file)) {
        if (System.nanoTime() > deadline || !launcher.isAlive()) {
          launcher.destroyForcibly();
          throw new AssertionError("rank " + rank + " did not start:\n" + log());
        }
        Thread.sleep(50);
      }
      pids.add(Long.parseLong(Files.readString(file).strip()));
    }
    return pids;
  }

  private void assertGone(Process launcher, List<Long> ranks, int graceSeconds) throws Exception {
    assertTrue(launcher.waitFor(30, TimeUnit.SECONDS), "launcher did not exit");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(graceSeconds);
    for (long pid : ranks) {
      while (alive(pid) && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      if (alive(pid)) {
        ranks.forEach(p -> ProcessHandle.of(p).ifPresent(ProcessHandle::destroyForcibly));
        throw new AssertionError("rank pid " + pid + " outlived its launcher:\n" + log());
      }
      assertFalse(alive(pid));
    }
  }

  private static boolean alive(long pid) {
    return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
  }

  private String log() throws Exception {
    File log = dir.resolve("launcher.log").toFile();
    return log.exists() ? Files.readString(log.toPath()) : "(no launcher output)";
  }
}
