package org.zero4j.engine.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DistEnvTest {

  private static Map<String, String> env(String... kv) {
    Map<String, String> m = new HashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put(kv[i], kv[i + 1]);
    }
    return m;
  }

  private static void assertFails(Map<String, String> env, String... inMessage) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> DistEnv.from(env));
    for (String s : inMessage) {
      assertTrue(e.getMessage().contains(s), "'" + s + "' missing from: " + e.getMessage());
    }
  }

  @Test
  void nothingSetIsOneProcess() {
    assertEquals(new DistEnv(0, 1, 0, 1, "127.0.0.1", 29500), DistEnv.from(Map.of()));
    assertEquals(DistEnv.single(), DistEnv.from(env("PATH", "/bin", "HOME", "/root")));
  }

  @Test
  void torchrunVariables() {
    DistEnv d =
        DistEnv.from(
            env(
                "RANK",
                "5",
                "WORLD_SIZE",
                "8",
                "LOCAL_RANK",
                "1",
                "LOCAL_WORLD_SIZE",
                "4",
                "MASTER_ADDR",
                "node-a",
                "MASTER_PORT",
                "12345"));
    assertEquals(new DistEnv(5, 8, 1, 4, "node-a", 12345), d);
    assertTrue(d.isDistributed());
  }

  @Test
  void deepSpeedLocalSizeAndDefaults() {
    DistEnv d =
        DistEnv.from(env("RANK", "2", "WORLD_SIZE", "3", "LOCAL_RANK", "2", "LOCAL_SIZE", "3"));
    assertEquals(new DistEnv(2, 3, 2, 3, "127.0.0.1", 29500), d);
  }

  @Test
  void rankAndWorldAloneMeanOneNode() {
    assertEquals(
        new DistEnv(1, 2, 1, 2, "h", 29501),
        DistEnv.from(
            env("RANK", "1", "WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "29501")));
  }

  @Test
  void torchrunWinsOverMpiAndSlurm() {
    DistEnv d =
        DistEnv.from(
            env(
                "RANK",
                "1",
                "WORLD_SIZE",
                "2",
                "OMPI_COMM_WORLD_RANK",
                "0",
                "OMPI_COMM_WORLD_SIZE",
                "4",
                "SLURM_PROCID",
                "0"));
    assertEquals(1, d.rank());
    assertEquals(2, d.worldSize());
  }

  @Test
  void badTorchrunValuesNameTheVariable() {
    assertFails(env("RANK", "2", "WORLD_SIZE", "2"), "RANK=2", "WORLD_SIZE=2");
    assertFails(env("RANK", "x1", "WORLD_SIZE", "2"), "RANK='x1'");
    assertFails(env("RANK", "-1", "WORLD_SIZE", "2"), "RANK='-1'");
    assertFails(env("RANK", "0"), "WORLD_SIZE is not set");
    assertFails(env("WORLD_SIZE", "2"), "RANK is not set");
    assertFails(env("RANK", "0", "WORLD_SIZE", "0"), "WORLD_SIZE=0");
    assertFails(env("RANK", "0", "WORLD_SIZE", "2", "LOCAL_RANK", "0"), "LOCAL_WORLD_SIZE");
    assertFails(
        env("RANK", "0", "WORLD_SIZE", "2", "LOCAL_RANK", "2", "LOCAL_WORLD_SIZE", "2"),
        "LOCAL_RANK=2",
        "LOCAL_WORLD_SIZE=2");
    assertFails(
        env("RANK", "0", "WORLD_SIZE", "2", "LOCAL_RANK", "0", "LOCAL_WORLD_SIZE", "3"),
        "LOCAL_WORLD_SIZE=3");
    assertFails(env("RANK", "0", "WORLD_SIZE", "1", "MASTER_PORT", "http"), "MASTER_PORT='http'");
    assertFails(env("RANK", "0", "WORLD_SIZE", "1", "MASTER_PORT", "70000"), "MASTER_PORT");
    assertFails(
        env("RANK", "0", "WORLD_SIZE", "4", "LOCAL_RANK", "0", "LOCAL_WORLD_SIZE", "2"),
        "MASTER_ADDR");
  }

  @Test
  void openMpiVariables() {
    Map<String, String> e =
        env(
            "OMPI_COMM_WORLD_RANK",
            "3",
            "OMPI_COMM_WORLD_SIZE",
            "4",
            "OMPI_COMM_WORLD_LOCAL_RANK",
            "3",
            "OMPI_COMM_WORLD_LOCAL_SIZE",
            "4",
            "SLURM_PROCID",
            "0");
    assertEquals(new DistEnv(3, 4, 3, 4, "127.0.0.1", 29500), DistEnv.from(e));
    e.put("OMPI_COMM_WORLD_LOCAL_SIZE", "2");
    e.put("OMPI_COMM_WORLD_LOCAL_RANK", "1");
    assertFails(e, "MASTER_ADDR is not set", "2 of 4");
    e.put("MASTER_ADDR", "10.0.0.7");
    e.put("MASTER_PORT", "6000");
    assertEquals(new DistEnv(3, 4, 1, 2, "10.0.0.7", 6000), DistEnv.from(e));
    e.put("OMPI_COMM_WORLD_LOCAL_RANK", "2");
    assertFails(e, "OMPI_COMM_WORLD_LOCAL_RANK=2", "OMPI_COMM_WORLD_LOCAL_SIZE=2");
    e.put("OMPI_COMM_WORLD_RANK", "4");
    assertFails(e, "OMPI_COMM_WORLD_RANK=4", "OMPI_COMM_WORLD_SIZE=4");
    e.remove("OMPI_COMM_WORLD_SIZE");
    assertFails(e, "OMPI_COMM_WORLD_SIZE is not set");
  }

  @Test
  void slurmVariables() {
    Map<String, String> e =
        env(
            "SLURM_PROCID",
            "6",
            "SLURM_NTASKS",
            "7",
            "SLURM_LOCALID",
            "0",
            "SLURM_NODEID",
            "2",
            "SLURM_TASKS_PER_NODE",
            "3(x2),1",
            "SLURM_JOB_NODELIST",
            "gpu[07-09,12],cpu1");
    assertEquals(new DistEnv(6, 7, 0, 1, "gpu07", 29500), DistEnv.from(e));
    e.put("SLURM_STEP_NODELIST", "a1,a2,a3");
    e.put("MASTER_PORT", "7000");
    assertEquals(new DistEnv(6, 7, 0, 1, "a1", 7000), DistEnv.from(e));
    e.put("MASTER_ADDR", "explicit");
    assertEquals("explicit", DistEnv.from(e).masterAddr());
  }

  @Test
  void slurmTasksPerNodeVariants() {
    Map<String, String> e =
        env(
            "SLURM_PROCID",
            "1",
            "SLURM_NTASKS",
            "2",
            "SLURM_LOCALID",
            "1",
            "SLURM_TASKS_PER_NODE",
            "2");
    assertEquals(new DistEnv(1, 2, 1, 2, "127.0.0.1", 29500), DistEnv.from(e));
    e.put("SLURM_NTASKS_PER_NODE", "2");
    e.put("SLURM_TASKS_PER_NODE", "garbage");
    assertEquals(2, DistEnv.from(e).localWorldSize());
    e.remove("SLURM_NTASKS_PER_NODE");
    assertFails(e, "SLURM_TASKS_PER_NODE='garbage'");
    e.remove("SLURM_TASKS_PER_NODE");
    assertFails(e, "SLURM_NTASKS_PER_NODE");
    e.put("SLURM_NTASKS_PER_NODE", "3");
    assertFails(e, "SLURM_NTASKS_PER_NODE=3", "SLURM_NTASKS=2");
    e.put("SLURM_NTASKS_PER_NODE", "1");
    assertFails(e, "SLURM_LOCALID=1", "SLURM_NTASKS_PER_NODE=1");
    assertEquals(List.of(4, 4, 4, 1, 2, 2), SlurmEnv.expandTasksPerNode("4(x3),1,2(x2)"));
  }

  @Test
  void slurmMultiNodeNeedsAReadableNodeList() {
    Map<String, String> e =
        env(
            "SLURM_PROCID",
            "0",
            "SLURM_NPROCS",
            "4",
            "SLURM_LOCALID",
            "0",
            "SLURM_NTASKS_PER_NODE",
            "2",
            "SLURM_NODELIST",
            "r[1-2]n[1-4]");
    assertFails(e, "SLURM_NODELIST='r[1-2]n[1-4]'", "MASTER_ADDR");
    e.remove("SLURM_NODELIST");
    assertFails(e, "MASTER_ADDR is not set");
  }

  @Test
  void firstHostOfHostlists() {
    assertEquals("node1", SlurmEnv.firstHost("node1"));
    assertEquals("n01", SlurmEnv.firstHost("n[01-04,09],x[1-2]"));
    assertEquals("rack3n", SlurmEnv.firstHost("rack[3,5]n"));
    assertEquals("a-b", SlurmEnv.firstHost("a-b,c"));
    assertNull(SlurmEnv.firstHost("r[1-2]n[1-4]"));
    assertNull(SlurmEnv.firstHost(",x"));
  }
}
