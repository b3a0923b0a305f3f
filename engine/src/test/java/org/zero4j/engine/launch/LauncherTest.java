package org.zero4j.engine.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.Charset;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs the launcher in this JVM over real rank JVMs running {@link RankProbe}. */
class LauncherTest {

  /** Keeps rank JVMs small and quick to start. */
  static final List<String> LIGHT_JVM =
      List.of("-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC");

  @TempDir Path dir;

  private final ByteArrayOutputStream outBytes = new ByteArrayOutputStream();
  private final ByteArrayOutputStream errBytes = new ByteArrayOutputStream();

  private int launch(int nproc, int threads, String mode, String... extra) {
    List<String> mainArgs = new java.util.ArrayList<>(List.of(dir.toString(), mode));
    mainArgs.addAll(List.of(extra));
    LaunchOptions options =
        new LaunchOptions(
            nproc, 1, 0, "127.0.0.1", 0, threads, LIGHT_JVM, RankProbe.class.getName(), mainArgs);
    try (PrintStream out = new PrintStream(outBytes, true, Charset.defaultCharset());
        PrintStream err = new PrintStream(errBytes, true, Charset.defaultCharset())) {
      return new Launcher(options).run(out, err);
    }
  }

  @Test
  void failingRankStopsTheOthersAndNamesItself() throws Exception {
    long start = System.nanoTime();
    int code = launch(2, 1, "fail");
    long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);

    String err = errBytes.toString(Charset.defaultCharset());
    assertEquals(3, code, err);
    assertTrue(seconds < 30, "launcher took " + seconds + " s");
    assertTrue(err.contains("rank 1 (pid"), err);
    assertTrue(err.contains("exited with code 3"), err);
    for (String file : List.of("pid-0", "pid-1", "child-0")) {
      long pid = Long.parseLong(Files.readString(dir.resolve(file)).strip());
      assertFalse(
          ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false),
          file + " " + pid + " is still alive");
    }
  }

  @Test
  void successfulRanksSeeTheirPlacementAndArePrefixed() throws Exception {
    int code = launch(3, 2, "ok", "a b", "c");
    String out = outBytes.toString(Charset.defaultCharset());
    String err = errBytes.toString(Charset.defaultCharset());
    assertEquals(0, code, err);

    int port = -1;
    for (int rank = 0; rank < 3; rank++) {
      Map<String, String> env = readEnv(dir.resolve("env-" + rank));
      assertEquals(Integer.toString(rank), env.get("RANK"));
      assertEquals("3", env.get("WORLD_SIZE"));
      assertEquals(Integer.toString(rank), env.get("LOCAL_RANK"));
      assertEquals("3", env.get("LOCAL_WORLD_SIZE"));
      assertEquals("0", env.get("GROUP_RANK"));
      assertEquals("127.0.0.1", env.get("MASTER_ADDR"));
      assertEquals("2", env.get("OMP_NUM_THREADS"));
      assertEquals("2", env.get("threads"));
      assertEquals("a b c", env.get("args"));
      int rankPort = Integer.parseInt(env.get("MASTER_PORT"));
      assertTrue(rankPort > 0 && rankPort < 65536, "port " + rankPort);
      if (port != -1) {
        assertEquals(port, rankPort, "every rank gets the same port");
      }
      port = rankPort;
      assertEquals(new DistEnv(rank, 3, rank, 3, "127.0.0.1", port).toString(), env.get("distenv"));
      assertTrue(out.contains("[rank " + rank + "] hello from rank " + rank + "\n"), out);
      assertTrue(err.contains("[rank " + rank + "] note from rank " + rank + "\n"), err);
      assertFalse(out.contains("note from rank " + rank), "stderr stays on stderr");
    }
  }

  @Test
  void ranksLoadTheNativesAndHonourTheirThreadCount() throws Exception {
    // 3 differs from libtorch's default (one thread per core) on the 2- and 4-core test machines.
    int code = launch(2, 3, "torch");
    String out = outBytes.toString(Charset.defaultCharset());
    assertEquals(0, code, errBytes.toString(Charset.defaultCharset()));
    assertTrue(out.contains("[rank 0] threads=3\n"), out);
    assertTrue(out.contains("[rank 1] threads=3\n"), out);
  }

  static Map<String, String> readEnv(Path file) throws IOException {
    Map<String, String> env = new HashMap<>();
    for (String line : Files.readAllLines(file)) {
      int eq = line.indexOf('=');
      env.put(line.substring(0, eq), line.substring(eq + 1));
    }
    return env;
  }
}
