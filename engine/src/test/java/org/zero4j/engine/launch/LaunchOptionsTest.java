package org.zero4j.engine.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LaunchOptionsTest {

  private static LaunchOptions parse(Map<String, String> env, String... args) {
    return LaunchOptions.parse(List.of(args), env);
  }

  private static void assertFails(String inMessage, String... args) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> parse(Map.of(), args));
    assertTrue(e.getMessage().contains(inMessage), e.getMessage());
  }

  @Test
  void singleNodeDefaults() {
    LaunchOptions o = parse(Map.of(), "--nproc", "4", "--", "com.x.Main", "--lr", "1");
    int cores = Runtime.getRuntime().availableProcessors();
    assertEquals(
        new LaunchOptions(
            4,
            1,
            0,
            "127.0.0.1",
            0,
            Math.max(1, cores / 4),
            List.of(),
            "com.x.Main",
            List.of("--lr", "1")),
        o);
  }

  @Test
  void multiNodeFlagsAndEnvironment() {
    LaunchOptions o =
        parse(
            Map.of("ZERO4J_JVM_OPTS", " -Xmx2g  -Dfoo=bar ", "OMP_NUM_THREADS", "7"),
            "--nproc=2",
            "--nnodes",
            "3",
            "--node-rank",
            "2",
            "--master-addr",
            "h0",
            "com.x.Main");
    assertEquals(
        new LaunchOptions(
            2, 3, 2, "h0", 29500, 7, List.of("-Xmx2g", "-Dfoo=bar"), "com.x.Main", List.of()),
        o);
    assertEquals(6, o.worldSize());
    assertEquals(5, o.globalRank(1));
    assertEquals(
        4, parse(Map.of("OMP_NUM_THREADS", "7"), "--nproc", "1", "--threads", "4", "M").threads());
  }

  @Test
  void mistakesNameTheFlag() {
    assertFails("--nproc is required", "--", "M");
    assertFails("--nproc 0 must be at least 1", "--nproc", "0", "M");
    assertFails("--nproc 'two'", "--nproc", "two", "M");
    assertFails("unknown option --nprocs", "--nprocs", "2", "M");
    assertFails("--nproc is given twice", "--nproc", "2", "--nproc=3", "M");
    assertFails("--threads needs a value", "--nproc", "2", "--threads");
    assertFails("no main class", "--nproc", "2", "--");
    assertFails("--master-addr is required", "--nproc", "2", "--nnodes", "2", "M");
    assertFails(
        "--node-rank 2 must be in [0, 2)",
        "--nproc",
        "1",
        "--nnodes",
        "2",
        "--node-rank",
        "2",
        "--master-addr",
        "h",
        "M");
    assertFails(
        "only works on one node",
        "--nproc",
        "1",
        "--nnodes",
        "2",
        "--master-addr",
        "h",
        "--master-port",
        "0",
        "M");
    assertFails("--master-port 65536", "--nproc", "1", "--master-port", "65536", "M");
    assertFails("--threads 0", "--nproc", "1", "--threads", "0", "M");
  }
}
